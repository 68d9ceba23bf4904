package agent

import (
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/vpngw/vpngw/internal/gwconfig"
	"github.com/vpngw/vpngw/internal/ike"
)

// resolver looks up FQDNs (Options.Lookup; net.LookupHost by default).
type resolver func(host string) ([]string, error)

// peers hands a checked configuration's connections to the IKE engine:
// the one place a connection setting becomes an ike.Peer field. It
// resolves remoteFqdn (I/O, so here rather than in gwconfig).
func peers(in *gwconfig.Instance, lookup resolver) ([]ike.Peer, error) {
	if lookup == nil {
		lookup = net.LookupHost
	}
	out := make([]ike.Peer, 0, len(in.Peers))
	for i, cn := range in.Peers {
		p := ike.Peer{
			Name:           cn.Name,
			Local:          in.Local,
			Remote:         cn.Remote,
			LocalID:        identity(cn.LocalID),
			RemoteID:       identity(cn.RemoteID),
			PSK:            cn.PSK,
			DPDTimeout:     cn.DPDTimeout,
			ForceEncap:     cn.ForceEncap,
			Port:           uint16(cn.RemotePort),
			IKEProposals:   cn.IKEProposals,
			ESPProposals:   cn.ESPProposals,
			ChildLifetime:  cn.ChildLifetime,
			ChildLifeBytes: cn.ChildLifeBytes,
		}
		if cn.RemoteFQDN != "" {
			f := fmt.Sprintf("connections[%d].remoteFqdn", i)
			addrs, err := lookup(cn.RemoteFQDN)
			if err != nil || len(addrs) == 0 {
				return nil, fmt.Errorf("%w: %s: cannot resolve %q: %v", gwconfig.ErrInvalid, f, cn.RemoteFQDN, err)
			}
			a, err := netip.ParseAddr(addrs[0])
			if err != nil {
				return nil, fmt.Errorf("%w: %s: %q resolved to %q", gwconfig.ErrInvalid, f, cn.RemoteFQDN, addrs[0])
			}
			p.Remote = a.Unmap()
		}
		switch cn.ConnectionMode {
		case "InitiatorOnly":
			p.Mode = ike.ModeInitiatorOnly
		case "ResponderOnly":
			p.Mode = ike.ModeResponderOnly
		}
		if cn.PolicyBased {
			// A PolicyBased gateway's connection (IKEv1): Azure's
			// PolicyBased offers and lifetimes (the engine picks them from
			// PolicyBased), gateway prefixes × site prefixes as selectors,
			// up on traffic and down when idle (idle.go).
			p.PolicyBased = true
			p.OnDemand = true
			p.LocalTS = cn.LocalNets
			p.RemoteTS = cn.RemoteNets
		} else if cn.UsePolicyBasedTrafficSelectors {
			p.PolicyBased = true
			p.LocalTS = cn.LocalNets
			p.RemoteTS = cn.RemoteNets
		} else {
			// Route-based: any-to-any, the routing table picks the tunnel.
			// As responder we accept what the peer proposes.
			p.LocalTS = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}
			p.RemoteTS = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}
		}
		for _, s := range cn.Selectors {
			p.ChildSelectors = append(p.ChildSelectors, ike.Selectors{Local: s.Local, Remote: s.Remote})
		}
		out = append(out, p)
	}
	return out, nil
}

func identity(s string) ike.Identity {
	if s == "" {
		return ike.Identity{}
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return ike.IPIdentity(a)
	}
	return ike.FQDNIdentity(strings.TrimPrefix(s, "@"))
}
