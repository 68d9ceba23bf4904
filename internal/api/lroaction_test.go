package api

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/vpngw/vpngw/internal/agentapi"
	"github.com/vpngw/vpngw/internal/resource"
)

// action POSTs body to path and expects Azure's long-running answer: 202
// with Azure-AsyncOperation and Location; the status URL says Succeeded
// and the returned response is what the Location URL answers.
func (h *harness) action(path string, body any) *resp {
	h.t.Helper()
	r := h.expect(h.do(http.MethodPost, path, body), http.StatusAccepted)
	if len(strings.TrimSpace(string(r.body))) > 0 {
		h.t.Fatalf("POST %s: 202 with a body: %s", path, r.body)
	}
	loc := r.header.Get("Location")
	if loc == "" || r.header.Get("Retry-After") == "" {
		h.t.Fatalf("POST %s: 202 without Location or Retry-After: %v", path, r.header)
	}
	if st := h.wait(r); st.Status != StatusSucceeded {
		h.t.Fatalf("POST %s: operation %+v", path, st)
	}
	return h.expect(h.do(http.MethodGet, loc, nil), http.StatusOK)
}

// bgpProvisioner reports fixed BGP speakers for every gateway.
type bgpProvisioner struct {
	NoneProvisioner
	reports []agentapi.BGPStatus
}

func (p bgpProvisioner) GatewayBGP(context.Context, *resource.VirtualNetworkGateway) ([]agentapi.BGPStatus, error) {
	return p.reports, nil
}

// TestBGPActionsAreLongRunning: getBgpPeerStatus, getLearnedRoutes and
// getAdvertisedRoutes answer 202 with the operation's URLs, the status URL
// says Succeeded and the Location URL answers Azure's result shape; a
// request Azure refuses up front (no BGP, no peer) is refused at once.
func TestBGPActionsAreLongRunning(t *testing.T) {
	route := GatewayRoute{LocalAddress: "10.1.255.30", Network: "10.50.0.0/24", NextHop: "10.50.255.1", SourcePeer: "10.50.255.1", Origin: "EBgp", ASPath: "65010"}
	h := newHarness(t, Config{Provisioner: bgpProvisioner{reports: []agentapi.BGPStatus{{
		Peers:            []agentapi.BGPPeerStatus{{LocalAddress: "10.1.255.30", Neighbor: "10.50.255.1", ASN: 65010, State: "Connected"}},
		LearnedRoutes:    []agentapi.GatewayRoute{route},
		AdvertisedRoutes: map[string][]agentapi.GatewayRoute{"10.50.255.1": {{LocalAddress: "10.1.255.30", Network: "10.1.0.0/16", Origin: "Igp"}}},
	}}}})
	s := h.site("rg", "Key1Key1Key1")
	h.expectErr(h.do(http.MethodPost, s.gw+"/getBgpPeerStatus", nil), http.StatusBadRequest, "BgpNotSupported")
	body := strings.Replace(gatewayBody("rg", "vnet1", "pip1"), `"sku"`, `"enableBgp":true,"bgpSettings":{"asn":65515},"sku"`, 1)
	h.put(s.gw, body)

	var peers struct{ Value []BgpPeerStatus }
	h.action(s.gw+"/getBgpPeerStatus", nil).json(t, &peers)
	if len(peers.Value) != 1 || peers.Value[0].Neighbor != "10.50.255.1" || peers.Value[0].State != "Connected" {
		t.Fatalf("getBgpPeerStatus result: %+v", peers)
	}
	var learned struct{ Value []GatewayRoute }
	h.action(s.gw+"/getLearnedRoutes", nil).json(t, &learned)
	if len(learned.Value) != 1 || learned.Value[0] != route {
		t.Fatalf("getLearnedRoutes result: %+v", learned)
	}
	var adv struct{ Value []GatewayRoute }
	h.action(s.gw+"/getAdvertisedRoutes?peer=10.50.255.1&api-version="+testAPIVersion, nil).json(t, &adv)
	if len(adv.Value) != 1 || adv.Value[0].Network != "10.1.0.0/16" {
		t.Fatalf("getAdvertisedRoutes result: %+v", adv)
	}
	h.expectErr(h.do(http.MethodPost, s.gw+"/getAdvertisedRoutes", nil), http.StatusBadRequest, "MissingRequiredParameter")
}
