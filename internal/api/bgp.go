package api

import (
	"context"
	"net/http"
	"net/netip"

	"github.com/vpngw/vpngw/internal/agentapi"
	"github.com/vpngw/vpngw/internal/armerr"
	"github.com/vpngw/vpngw/internal/registry"
	"github.com/vpngw/vpngw/internal/resource"
)

// A BGP gateway's instances each run a speaker and report it (agentapi
// BGPStatus). getBgpPeerStatus, getLearnedRoutes and getAdvertisedRoutes
// answer from those reports, merged over the instances as Azure merges
// them (each entry names its instance's localAddress). They are
// long-running operations as in Azure (answerAction: 202, the result at
// the Location URL), answered from the reports at hand.

// BgpPeerStatus is one entry of getBgpPeerStatus: Azure's BgpPeerStatus
// plus the connection and, for a session that is down, why (vpngw
// extensions).
type BgpPeerStatus = agentapi.BGPPeerStatus

// GatewayRoute is one entry of getLearnedRoutes and getAdvertisedRoutes
// (Azure's GatewayRoute).
type GatewayRoute = agentapi.GatewayRoute

// GatewayBGPReporter is an optional interface of a Provisioner whose
// gateway instances report their BGP speakers (the lab and host
// providers).
type GatewayBGPReporter interface {
	// GatewayBGP returns the latest BGP reports of gw's instances that
	// report recently and run a speaker, in index order, answering from
	// memory. A returned *armerr.Error is shown to the client.
	GatewayBGP(ctx context.Context, gw *resource.VirtualNetworkGateway) ([]agentapi.BGPStatus, error)
}

type bgpPeerList struct {
	Value []BgpPeerStatus `json:"value"`
}

type gatewayRouteList struct {
	Value []GatewayRoute `json:"value"`
}

// gatewayBGP loads the gateway and its instances' BGP reports.
func (s *Server) gatewayBGP(r *request) (*resource.VirtualNetworkGateway, []agentapi.BGPStatus, error) {
	ctx := r.Context()
	id, err := resourceID(r, gatewayKind)
	if err != nil {
		return nil, nil, err
	}
	st, err := registry.Load(ctx, s.st, id)
	if err != nil {
		return nil, nil, err
	}
	if st == nil {
		return nil, nil, s.notFoundIn(ctx, id)
	}
	gw := st.Obj.(*resource.VirtualNetworkGateway)
	if !gw.Properties.EnableBgp {
		return nil, nil, errorf(http.StatusBadRequest, armerr.CodeBgpNotSupported, "",
			"Gateway %s does not have BGP enabled; set its enableBgp to true first.", id.Name)
	}
	rep, ok := s.prov.(GatewayBGPReporter)
	if !ok {
		return nil, nil, errorf(http.StatusNotFound, CodeInstancesNotAvailable, "",
			"The server runs with --provider %s, which runs no gateway instances, so there are no BGP speakers to ask; use --provider host or lab.", s.prov.Name())
	}
	reports, err := rep.GatewayBGP(ctx, gw)
	return gw, reports, err
}

// peerParam is the optional ?peer= of the BGP actions.
func peerParam(r *request, required bool) (string, error) {
	p := r.URL.Query().Get("peer")
	if p == "" {
		if required {
			return "", errorf(http.StatusBadRequest, armerr.CodeMissingParameter, "peer", "The peer parameter (the BGP peer's IP address) is required.")
		}
		return "", nil
	}
	a, err := netip.ParseAddr(p)
	if err != nil {
		return "", errorf(http.StatusBadRequest, armerr.CodeInvalidParameter, "peer", "peer '%s' is not an IP address.", p)
	}
	return a.String(), nil
}

// getBgpPeerStatus serves POST virtualNetworkGateways/{gw}/getBgpPeerStatus[?peer=IP].
func (s *Server) getBgpPeerStatus(w http.ResponseWriter, r *request) error {
	peer, err := peerParam(r, false)
	if err != nil {
		return err
	}
	gw, reports, err := s.gatewayBGP(r)
	if err != nil {
		return err
	}
	out := bgpPeerList{Value: []BgpPeerStatus{}}
	for _, b := range reports {
		for _, p := range b.Peers {
			if peer == "" || p.Neighbor == peer {
				out.Value = append(out.Value, p)
			}
		}
	}
	return s.answerAction(w, r, gw, out)
}

// getLearnedRoutes serves POST virtualNetworkGateways/{gw}/getLearnedRoutes.
func (s *Server) getLearnedRoutes(w http.ResponseWriter, r *request) error {
	gw, reports, err := s.gatewayBGP(r)
	if err != nil {
		return err
	}
	out := gatewayRouteList{Value: []GatewayRoute{}}
	for _, b := range reports {
		out.Value = append(out.Value, b.LearnedRoutes...)
	}
	return s.answerAction(w, r, gw, out)
}

// getAdvertisedRoutes serves POST virtualNetworkGateways/{gw}/getAdvertisedRoutes?peer=IP.
func (s *Server) getAdvertisedRoutes(w http.ResponseWriter, r *request) error {
	peer, err := peerParam(r, true)
	if err != nil {
		return err
	}
	gw, reports, err := s.gatewayBGP(r)
	if err != nil {
		return err
	}
	out := gatewayRouteList{Value: []GatewayRoute{}}
	for _, b := range reports {
		out.Value = append(out.Value, b.AdvertisedRoutes[peer]...)
	}
	return s.answerAction(w, r, gw, out)
}
