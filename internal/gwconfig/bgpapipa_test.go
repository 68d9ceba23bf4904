package gwconfig

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// apipaConfig: the instance's BGP address 169.254.21.2 and a further
// custom address 169.254.21.6, which c1's session uses; the peer is
// 169.254.21.5.
var apipaConfig = strings.NewReplacer(
	"bgpSettings: {bgpPeeringAddress: 10.1.255.30}", "bgpSettings: {bgpPeeringAddress: 169.254.21.2, customBgpIpAddresses: [169.254.21.6]}",
	"bgpPeeringAddress: 10.2.255.1,", "bgpPeeringAddress: 169.254.21.5, localBgpAddress: 169.254.21.6,",
).Replace(bgpConfig)

// A connection may use another of the instance's custom APIPA addresses
// for its session (Azure's gatewayCustomBgpIpAddresses): the address goes
// on the TUN, the peer is passive (it must initiate).
func TestBGPLocalBgpAddress(t *testing.T) {
	in, err := Parse([]byte(apipaConfig))
	if err != nil {
		t.Fatal(err)
	}
	if want := []netip.Addr{netip.MustParseAddr("169.254.21.6")}; !reflect.DeepEqual(in.BGP.CustomAddrs, want) {
		t.Errorf("CustomAddrs = %v, want %v", in.BGP.CustomAddrs, want)
	}
	if want := []netip.Prefix{netip.MustParsePrefix("169.254.21.2/32"), netip.MustParsePrefix("169.254.21.6/32")}; !reflect.DeepEqual(in.TunnelAddrs, want) {
		t.Errorf("TunnelAddrs = %v, want %v", in.TunnelAddrs, want)
	}
	b := in.Peers[0].BGP
	if b.Local != netip.MustParseAddr("169.254.21.6") || !b.Passive {
		t.Errorf("peer BGP = %+v, want local 169.254.21.6 and passive", b)
	}
	// A private peer with an APIPA local address: still passive.
	y := strings.Replace(apipaConfig, "bgpPeeringAddress: 169.254.21.5,", "bgpPeeringAddress: 10.2.255.1,", 1)
	if in, err = Parse([]byte(y)); err != nil || !in.Peers[0].BGP.Passive {
		t.Fatalf("%v %+v", err, in.Peers[0].BGP)
	}
	// The peering address itself may be named.
	y = strings.Replace(apipaConfig, "localBgpAddress: 169.254.21.6", "localBgpAddress: 169.254.21.2", 1)
	if in, err = Parse([]byte(y)); err != nil || in.Peers[0].BGP.Local != netip.MustParseAddr("169.254.21.2") {
		t.Fatalf("%v %+v", err, in)
	}
	// Adding a custom address changes the TUN: a restart field.
	cur, _ := Parse([]byte(bgpConfig))
	next, _ := Parse([]byte(strings.Replace(bgpConfig, "bgpSettings: {bgpPeeringAddress: 10.1.255.30}", "bgpSettings: {bgpPeeringAddress: 10.1.255.30, customBgpIpAddresses: [169.254.21.6]}", 1)))
	if f := RestartFields(&cur.Config, &next.Config); !reflect.DeepEqual(f, []string{"bgpSettings.customBgpIpAddresses"}) {
		t.Errorf("RestartFields = %v", f)
	}
}

func TestBGPLocalBgpAddressErrors(t *testing.T) {
	for _, tc := range []struct {
		name, old, new, want string
	}{
		{"custom address outside Azure's range", "customBgpIpAddresses: [169.254.21.6]", "customBgpIpAddresses: [169.254.23.6]",
			"bgpSettings.customBgpIpAddresses[0]: 169.254.23.6: custom APIPA BGP addresses must be in 169.254.21.0-169.254.22.255"},
		{"custom address not APIPA", "customBgpIpAddresses: [169.254.21.6]", "customBgpIpAddresses: [10.1.255.29]",
			"bgpSettings.customBgpIpAddresses[0]: 10.1.255.29: custom APIPA BGP addresses must be in"},
		{"custom address twice", "customBgpIpAddresses: [169.254.21.6]", "customBgpIpAddresses: [169.254.21.6, 169.254.21.6]",
			"bgpSettings.customBgpIpAddresses[1]: 169.254.21.6 is listed twice"},
		{"custom address is the peering address", "customBgpIpAddresses: [169.254.21.6]", "customBgpIpAddresses: [169.254.21.2, 169.254.21.6]",
			"bgpSettings.customBgpIpAddresses[0]: 169.254.21.2 is listed twice"},
		{"custom address bad", "customBgpIpAddresses: [169.254.21.6]", "customBgpIpAddresses: [x]",
			`bgpSettings.customBgpIpAddresses[0]: "x" is not an IP address`},
		{"local address not ours", "localBgpAddress: 169.254.21.6", "localBgpAddress: 169.254.21.7",
			"connections[0].bgpPeer.localBgpAddress: 169.254.21.7 is not one of the instance's BGP addresses"},
		{"local address is the peer", "bgpPeeringAddress: 169.254.21.5, localBgpAddress: 169.254.21.6", "bgpPeeringAddress: 169.254.21.6, localBgpAddress: 169.254.21.6",
			"connections[0].bgpPeer.bgpPeeringAddress: 169.254.21.6 is one of the gateway's own customBgpIpAddresses"},
		{"local address bad", "localBgpAddress: 169.254.21.6", "localBgpAddress: nope",
			`connections[0].bgpPeer.localBgpAddress: "nope" is not an IP address`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(apipaConfig, tc.old) {
				t.Fatalf("%q not in the config", tc.old)
			}
			refused(t, strings.Replace(apipaConfig, tc.old, tc.new, 1), tc.want)
		})
	}
}
