package resource

import "testing"

// fastTimers and gracefulRestart are vpngw extensions of a gateway's
// bgpSettings; on a local network gateway they are refused, naming the
// field.
func TestLocalNetworkGatewayBGPExtensions(t *testing.T) {
	base := func() *LocalNetworkGateway {
		l := newLNG("site1", "203.0.113.10", "192.168.0.0/16")
		l.Properties.BgpSettings = &BgpSettings{ASN: 65010, BgpPeeringAddress: "192.168.255.1"}
		return l
	}
	runValidate(t, base, []vcase[*LocalNetworkGateway]{
		{name: "plain BGP"},
		{name: "fastTimers", mut: func(l *LocalNetworkGateway) { l.Properties.BgpSettings.FastTimers = true },
			code: CodeInvalidParameter, target: "properties.bgpSettings.fastTimers", msg: []string{"virtual network gateways"}},
		{name: "gracefulRestart", mut: func(l *LocalNetworkGateway) { l.Properties.BgpSettings.GracefulRestart = true },
			code: CodeInvalidParameter, target: "properties.bgpSettings.gracefulRestart", msg: []string{"virtual network gateways"}},
	})
}
