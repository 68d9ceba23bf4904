package resource

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"slices"

	"github.com/vpngw/vpngw/internal/netx"
)

// MaxLocalNetworkPrefixes bounds a local network gateway's address space
// (reference §4).
const MaxLocalNetworkPrefixes = 1000

// LocalNetworkGateway is an on-premises site
// (Microsoft.Network/localNetworkGateways).
type LocalNetworkGateway struct {
	Envelope
	// Properties holds the site's properties.
	Properties LocalNetworkGatewayProperties `json:"properties"`
}

// LocalNetworkGatewayProperties are a local network gateway's properties.
type LocalNetworkGatewayProperties struct {
	// LocalNetworkAddressSpace lists the site's prefixes (at most 1000; may
	// be empty when BgpSettings is set).
	LocalNetworkAddressSpace AddressSpace `json:"localNetworkAddressSpace"`
	// GatewayIPAddress is the on-premises device's IP address.
	GatewayIPAddress string `json:"gatewayIpAddress,omitempty"`
	// Fqdn is the device's DNS name (instead of, or with, GatewayIPAddress).
	Fqdn string `json:"fqdn,omitempty"`
	// BgpSettings are the device's BGP ASN and peering address.
	BgpSettings *BgpSettings `json:"bgpSettings,omitempty"`
	// ResourceGUID is read-only, assigned on create.
	ResourceGUID string `json:"resourceGuid,omitempty"`
	// ProvisioningState is read-only.
	ProvisioningState string `json:"provisioningState,omitempty"`
}

// Meta returns the envelope.
func (l *LocalNetworkGateway) Meta() *Envelope { return &l.Envelope }

// ProvisioningState returns properties.provisioningState.
func (l *LocalNetworkGateway) ProvisioningState() string { return l.Properties.ProvisioningState }

// SetProvisioningState sets properties.provisioningState.
func (l *LocalNetworkGateway) SetProvisioningState(s string) { l.Properties.ProvisioningState = s }

func prepareLocalNetworkGateway(l, old *LocalNetworkGateway, rnd io.Reader) error {
	if l.Properties.LocalNetworkAddressSpace.AddressPrefixes == nil {
		l.Properties.LocalNetworkAddressSpace.AddressPrefixes = []string{}
	}
	var guid string
	if old != nil {
		guid = old.Properties.ResourceGUID
	}
	g, err := resourceGUID(guid, rnd)
	l.Properties.ResourceGUID = g
	return err
}

func validateLocalNetworkGateway(l *errList, lg *LocalNetworkGateway) {
	pr := &lg.Properties
	const t = "properties.localNetworkAddressSpace.addressPrefixes"
	list := pr.LocalNetworkAddressSpace.AddressPrefixes
	if len(list) == 0 && pr.BgpSettings == nil {
		l.addf(CodeMissingParameter, t, "A local network gateway needs the site's address prefixes, unless it has bgpSettings (then routes are learned over BGP).")
	}
	ps := parsePrefixList(l, list, t)
	seen := make(map[netip.Prefix]bool, len(ps))
	for _, p := range ps {
		if seen[p] {
			l.addf(CodeInvalidParameter, t, "Address prefix %s is listed twice.", p)
		}
		seen[p] = true
		// A prefix that holds only reserved addresses would steer
		// multicast, loopback or link-local traffic into the tunnel. A
		// link-local /32 is the exception: it is how a site lists an APIPA
		// BGP peering address (169.254.21.x) in its address space.
		if r, ok := netx.ReservedWithin(p); ok && !(r.What == "link-local" && p.IsSingleIP()) {
			target := t
			if i := slices.Index(list, p.String()); i >= 0 {
				target = fmt.Sprintf("%s[%d]", t, i)
			}
			l.addf(CodeInvalidParameter, target,
				"Address prefix %s lies in %s (%s), which cannot be an on-premises network.", p, r.Prefix, r.What)
		}
	}
	var gwIP netip.Addr
	if pr.GatewayIPAddress != "" {
		a, e := parseAddr(pr.GatewayIPAddress, "properties.gatewayIpAddress", "gatewayIpAddress")
		switch {
		case e != nil:
			l.add(e)
		case a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
			l.addf(CodeInvalidLocalNetworkGw, "properties.gatewayIpAddress", "gatewayIpAddress %s is not a unicast address of a VPN device.", a)
		default:
			gwIP = a
		}
	}
	if pr.Fqdn != "" && !validDNSName(pr.Fqdn) {
		l.addf(CodeInvalidLocalNetworkGw, "properties.fqdn", "fqdn %q is not a valid DNS name.", pr.Fqdn)
	}
	if pr.GatewayIPAddress == "" && pr.Fqdn == "" {
		l.addf(CodeMissingParameter, "properties.gatewayIpAddress", "A local network gateway needs the VPN device's address: gatewayIpAddress or fqdn.")
	}
	if b := pr.BgpSettings; b != nil {
		l.add(validateASN(b.ASN, false, "properties.bgpSettings.asn"))
		bt := "properties.bgpSettings.bgpPeeringAddress"
		if b.BgpPeeringAddress == "" {
			l.addf(CodeMissingParameter, bt, "bgpSettings needs bgpPeeringAddress, the on-premises BGP speaker's IP address.")
		} else if a, e := parseAddr(b.BgpPeeringAddress, bt, "bgpPeeringAddress"); e != nil {
			l.add(e)
		} else if gwIP.IsValid() && a == gwIP {
			l.addf(CodeInvalidLocalNetworkGw, bt, "bgpPeeringAddress %s must not equal gatewayIpAddress: use the BGP speaker's own (for example loopback or APIPA) address.", a)
		}
		if b.PeerWeight < 0 || b.PeerWeight > MaxPeerWeight {
			l.addf(CodeInvalidParameter, "properties.bgpSettings.peerWeight", "peerWeight %d is out of range: it must be 0 to %d.", b.PeerWeight, MaxPeerWeight)
		}
		if len(b.BgpPeeringAddresses) > 0 {
			l.addf(CodeInvalidParameter, "properties.bgpSettings.bgpPeeringAddresses", "bgpPeeringAddresses applies to virtual network gateways, not to local network gateways.")
		}
		if b.FastTimers {
			l.addf(CodeInvalidParameter, "properties.bgpSettings.fastTimers", "fastTimers applies to virtual network gateways, not to local network gateways.")
		}
		if b.GracefulRestart {
			l.addf(CodeInvalidParameter, "properties.bgpSettings.gracefulRestart", "gracefulRestart applies to virtual network gateways, not to local network gateways.")
		}
	}
}

func (r *resolver) localNetworkGateway(lg, old *LocalNetworkGateway) {
	if old == nil || keyOf(lg) == "" {
		return
	}
	var conns []*Connection
	for _, c := range r.connections() {
		if sameID(refID(c.Properties.LocalNetworkGateway2), lg.ID) {
			conns = append(conns, c)
		}
	}
	r.recheck(conns, lg, func(code string) string {
		switch code {
		case CodeInvalidAsn, CodeBgpNotSupported:
			return "properties.bgpSettings"
		case CodeInvalidLocalNetworkGw:
			return "properties.bgpSettings.bgpPeeringAddress"
		}
		return "properties.localNetworkAddressSpace.addressPrefixes"
	})
}

// checkLocalNetworkGatewayDelete refuses to delete a local network gateway
// while a connection uses it or a gateway has it as its default site.
func checkLocalNetworkGatewayDelete(ctx context.Context, v View, o *LocalNetworkGateway) error {
	conns, err := listConnections(ctx, v)
	if err != nil {
		return err
	}
	var users []string
	for _, c := range conns {
		if sameID(refID(c.Properties.LocalNetworkGateway2), o.ID) {
			users = append(users, c.ID)
		}
	}
	gws, err := listGateways(ctx, v)
	if err != nil {
		return err
	}
	for _, g := range gws {
		if sameID(refID(g.Properties.GatewayDefaultSite), o.ID) {
			users = append(users, g.ID+" (gatewayDefaultSite)")
		}
	}
	if len(users) > 0 {
		return inUse("Local network gateway "+o.Name, users)
	}
	return nil
}
