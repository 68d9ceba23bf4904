package gwconfig

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// bgpConfig is baseConfig with a BGP speaker and c1 peering over BGP.
const bgpConfig = "bgpSettings: {bgpPeeringAddress: 10.1.255.30}\n" + baseConfig + `    enableBgp: true
    bgpPeer: {asn: 65010, bgpPeeringAddress: 10.2.255.1, peerWeight: 10}
`

func TestBGPConfig(t *testing.T) {
	in, err := Parse([]byte(bgpConfig))
	if err != nil {
		t.Fatal(err)
	}
	if want := (&BGP{ASN: 65515, PeeringAddr: netip.MustParseAddr("10.1.255.30")}); !reflect.DeepEqual(in.BGP, want) {
		t.Errorf("BGP = %+v, want %+v", in.BGP, want)
	}
	if in.BgpSettings.ASN != 65515 {
		t.Errorf("asn not defaulted: %+v", in.BgpSettings)
	}
	if want := []netip.Prefix{netip.MustParsePrefix("10.1.255.30/32")}; !reflect.DeepEqual(in.TunnelAddrs, want) {
		t.Errorf("TunnelAddrs = %v, want %v (the peering address on the TUN)", in.TunnelAddrs, want)
	}
	if want := (&PeerBGP{ASN: 65010, Addr: netip.MustParseAddr("10.2.255.1"), Weight: 10}); !reflect.DeepEqual(in.Peers[0].BGP, want) {
		t.Errorf("peer BGP = %+v, want %+v", in.Peers[0].BGP, want)
	}
	// An APIPA peer must initiate; the gateway's custom APIPA address
	// already on the TUN is not added twice.
	apipa := strings.NewReplacer("10.2.255.1", "169.254.21.1", "bgpPeeringAddress: 10.1.255.30", "bgpPeeringAddress: 169.254.21.2").Replace(bgpConfig) +
		"    remotePort: 500\ntunnel: {addresses: [169.254.21.2/30]}\n"
	in, err = Parse([]byte(apipa))
	if err != nil {
		t.Fatal(err)
	}
	if !in.Peers[0].BGP.Passive {
		t.Error("APIPA peer not passive")
	}
	if len(in.TunnelAddrs) != 1 {
		t.Errorf("TunnelAddrs = %v", in.TunnelAddrs)
	}
	// With BGP the static prefixes may be left out.
	if _, err := Parse([]byte(strings.Replace(bgpConfig, "remotePrefixes: [10.2.0.0/16]", "remotePrefixes: []", 1))); err != nil {
		t.Fatalf("BGP connection without remotePrefixes: %v", err)
	}
	// Without enableBgp a connection has no BGP peer.
	in, err = Parse([]byte(baseConfig + "bgpSettings: {asn: 65001, bgpPeeringAddress: 10.1.255.30}\n"))
	if err != nil || in.Peers[0].BGP != nil || in.BGP.ASN != 65001 {
		t.Fatalf("%v %+v", err, in)
	}
}

func TestBGPConfigErrors(t *testing.T) {
	second := "  - name: c2\n    remoteAddress: 192.0.2.3\n    remotePrefixes: [10.3.0.0/16]\n    sharedKey: x\n    enableBgp: true\n"
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"policy-based gateway", strings.Replace(bgpConfig, "bgpSettings:", "vpnType: PolicyBased\nbgpSettings:", 1), "bgpSettings: BGP needs a RouteBased gateway"},
		{"reserved gateway ASN", strings.Replace(bgpConfig, "bgpSettings: {", "bgpSettings: {asn: 8075, ", 1), "bgpSettings.asn: gateway ASN 8075: ASN is reserved"},
		{"no peering address", strings.Replace(bgpConfig, "bgpSettings: {bgpPeeringAddress: 10.1.255.30}", "bgpSettings: {asn: 65001}", 1), "bgpSettings.bgpPeeringAddress: is required"},
		{"IPv6 peering address", strings.Replace(bgpConfig, "10.1.255.30", "2001:db8::1", 1), "bgpSettings.bgpPeeringAddress: 2001:db8::1 is not an IPv4 address"},
		{"APIPA outside Azure's range", strings.Replace(bgpConfig, "10.1.255.30", "169.254.30.1", 1), "bgpSettings.bgpPeeringAddress: 169.254.30.1: custom APIPA BGP addresses must be in 169.254.21.0-169.254.22.255"},
		{"enableBgp without gateway settings", strings.Replace(bgpConfig, "bgpSettings: {bgpPeeringAddress: 10.1.255.30}\n", "", 1), "connections[0].enableBgp: needs the gateway's bgpSettings"},
		{"enableBgp without peer", bgpConfig + second, "connections[1].bgpPeer: is required with enableBgp"},
		{"peer without enableBgp", strings.Replace(bgpConfig, "enableBgp: true", "enableBgp: false", 1), "connections[0].bgpPeer: is set but enableBgp is false"},
		{"policy-based selectors", bgpConfig + "    usePolicyBasedTrafficSelectors: true\n", "connections[0].enableBgp: needs the route-based selectors"},
		{"reserved peer ASN", strings.Replace(bgpConfig, "asn: 65010", "asn: 65517", 1), "connections[0].bgpPeer.asn: peer ASN 65517: ASN is reserved"},
		{"peer ASN 65515", strings.Replace(bgpConfig, "asn: 65010", "asn: 65515", 1), "connections[0].bgpPeer.asn: peer ASN 65515: ASN is reserved"},
		{"gateway peer ASN reserved", strings.Replace(bgpConfig, "asn: 65010,", "asn: 65517, gateway: true,", 1), "connections[0].bgpPeer.asn: gateway ASN 65517: ASN is reserved"},
		{"gateway peer ASN same as gateway", strings.Replace(bgpConfig, "asn: 65010,", "asn: 65515, gateway: true,", 1), "connections[0].bgpPeer.asn: peer ASN 65515: the on-premises ASN must differ"},
		{"peer ASN same as gateway", strings.Replace(bgpConfig, "bgpSettings: {", "bgpSettings: {asn: 65010, ", 1), "connections[0].bgpPeer.asn: peer ASN 65010: the on-premises ASN must differ"},
		{"peer ASN zero", strings.Replace(bgpConfig, "asn: 65010", "asn: 0", 1), "connections[0].bgpPeer.asn: ASN 0 is not a valid ASN"},
		{"peer address is public IP", strings.Replace(bgpConfig, "bgpPeeringAddress: 10.2.255.1", "bgpPeeringAddress: 192.0.2.2", 1), "connections[0].bgpPeer.bgpPeeringAddress: invalid on-premises BGP peer address: 192.0.2.2 is the device's public IP address"},
		{"peer address in VNet", strings.Replace(bgpConfig, "bgpPeeringAddress: 10.2.255.1", "bgpPeeringAddress: 10.1.2.3", 1), "connections[0].bgpPeer.bgpPeeringAddress: invalid on-premises BGP peer address: 10.1.2.3 is inside the VNet address space 10.1.0.0/16"},
		{"peer address is ours", strings.Replace(bgpConfig, "bgpPeeringAddress: 10.1.255.30", "bgpPeeringAddress: 10.2.255.1", 1), "connections[0].bgpPeer.bgpPeeringAddress: 10.2.255.1 is the gateway's own bgpPeeringAddress"},
		{"peer address bad", strings.Replace(bgpConfig, "bgpPeeringAddress: 10.2.255.1", "bgpPeeringAddress: x", 1), `connections[0].bgpPeer.bgpPeeringAddress: "x" is not an IP address`},
		{"peer weight", strings.Replace(bgpConfig, "peerWeight: 10", "peerWeight: 101", 1), "connections[0].bgpPeer.peerWeight: 101 is outside 0..100"},
		{"peer twice", bgpConfig + second + "    bgpPeer: {asn: 65020, bgpPeeringAddress: 10.2.255.1}\n", "connections[1].bgpPeer.bgpPeeringAddress: 10.2.255.1 is also the BGP peer of connections[0]"},
		{"peer routed elsewhere", bgpConfig + "  - name: c2\n    remoteAddress: 192.0.2.3\n    remotePrefixes: [10.2.255.1/32]\n    sharedKey: x\n", "connections[0].bgpPeer.bgpPeeringAddress: 10.2.255.1 is routed to connections[1]"},
	} {
		t.Run(tc.name, func(t *testing.T) { refused(t, tc.yaml, tc.want) })
	}
}

// A gateway peer (VNet-to-VNet) may use Azure's default ASN 65515.
func TestBGPGatewayPeerASN(t *testing.T) {
	y := strings.Replace(strings.Replace(bgpConfig, "asn: 65010,", "asn: 65515, gateway: true,", 1), "bgpSettings: {", "bgpSettings: {asn: 65020, ", 1)
	in, err := Parse([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	if b := in.Peers[0].BGP; b == nil || b.ASN != 65515 {
		t.Fatalf("peer BGP %+v", b)
	}
}

func TestRestartFieldsBGP(t *testing.T) {
	a, err := Parse([]byte(bgpConfig))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse([]byte(strings.Replace(bgpConfig, "10.1.255.30", "10.1.255.31", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if f := RestartFields(&a.Config, &b.Config); !reflect.DeepEqual(f, []string{"bgpSettings.bgpPeeringAddress"}) {
		t.Errorf("RestartFields = %v", f)
	}
	c, _ := Parse([]byte(strings.Replace(bgpConfig, "asn: 65010", "asn: 65011", 1)))
	if f := RestartFields(&a.Config, &c.Config); len(f) != 0 {
		t.Errorf("a peer's ASN needs no restart: %v", f)
	}
}
