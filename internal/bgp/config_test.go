package bgp

import (
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/bgp/bgprules"
)

func TestConfigValidation(t *testing.T) {
	base := Config{ListenAddr: netip.MustParseAddr("192.0.2.1"), VNet: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want error
	}{
		{"defaults", func(*Config) {}, nil},
		{"fast timers", func(c *Config) { c.HoldTime, c.KeepAlive = FastHoldTime, FastKeepAlive }, nil},
		{"no listen address", func(c *Config) { c.ListenAddr = netip.Addr{} }, ErrInvalidConfig},
		{"IPv6 listen address", func(c *Config) { c.ListenAddr = netip.MustParseAddr("2001:db8::1") }, ErrInvalidConfig},
		{"reserved ASN", func(c *Config) { c.ASN = 12076 }, bgprules.ErrReservedASN},
		{"keepalive too long", func(c *Config) { c.HoldTime, c.KeepAlive = 9*time.Second, 5*time.Second }, ErrInvalidConfig},
		{"advertise default", func(c *Config) { c.Advertise = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")} }, ErrDefaultRoute},
		{"IPv6 VNet", func(c *Config) { c.VNet = []netip.Prefix{netip.MustParsePrefix("2001:db8::/32")} }, ErrInvalidConfig},
	} {
		c := base
		tc.mod(&c)
		_, err := New(c)
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%s: New = %v, want %v", tc.name, err, tc.want)
		}
	}
	c := base.withDefaults()
	if c.ASN != bgprules.DefaultASN || c.Port != DefaultPort || c.HoldTime != DefaultHoldTime || c.KeepAlive != DefaultKeepAlive || c.RouterID != c.ListenAddr {
		t.Errorf("defaults: %+v", c)
	}
	if n := (Neighbor{}).withDefaults(); n.MaxPrefixes != DefaultMaxPrefixes {
		t.Errorf("neighbor default max prefixes %d", n.MaxPrefixes)
	}
	if err := (Neighbor{Address: netip.MustParseAddr("192.0.2.2"), ASN: 65515}).Validate(65515); !errors.Is(err, bgprules.ErrReservedASN) {
		t.Errorf("neighbor with the gateway's ASN: %v", err)
	}
}

func TestOverlapEntries(t *testing.T) {
	vnet := []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("10.2.0.0/16")}
	in := insideEntries(vnet)
	if len(in) != 2 || in[0].IpPrefix != "10.1.0.0/16" || in[0].MaskLengthMin != 16 || in[0].MaskLengthMax != 32 {
		t.Errorf("inside entries: %v", in)
	}
	got := map[string]bool{}
	for _, e := range overlapEntries(vnet) {
		got[e.IpPrefix] = true
	}
	// Supernets of both, each once; 10.0.0.0/14 covers both.
	for _, want := range []string{"0.0.0.0/0", "10.0.0.0/8", "10.0.0.0/14", "10.0.0.0/15", "10.2.0.0/15", "10.1.0.0/16", "10.2.0.0/16"} {
		if !got[want] {
			t.Errorf("overlap entries lack %s", want)
		}
	}
	if n := len(overlapEntries(vnet)); n != 2+16+1 { // 16 shared supernets /0../15 of 10.1, plus 10.2.0.0/15
		t.Errorf("overlap entries: %d", n)
	}
}

func TestStatusShapes(t *testing.T) {
	if s := AzureDuration(2*time.Hour + 17*time.Second + 152674900*time.Nanosecond).String(); s != "02:00:17.1526749" {
		t.Errorf("AzureDuration = %s", s)
	}
	b, err := json.Marshal(PeerStatus{LocalAddress: netip.MustParseAddr("10.1.255.30"), Neighbor: netip.MustParseAddr("192.0.2.2"),
		ASN: 65010, State: PeerConnected, ConnectedDuration: AzureDuration(time.Minute), RoutesReceived: 3, MessagesSent: 5, MessagesReceived: 6})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"localAddress":"10.1.255.30","neighbor":"192.0.2.2","asn":65010,"state":"Connected","connectedDuration":"00:01:00.0000000","routesReceived":3,"messagesSent":5,"messagesReceived":6}`
	if string(b) != want {
		t.Errorf("PeerStatus JSON\n got %s\nwant %s", b, want)
	}
	b, _ = json.Marshal(GatewayRoute{LocalAddress: netip.MustParseAddr("10.1.255.30"), Network: netip.MustParsePrefix("10.1.0.0/16"),
		SourcePeer: netip.MustParseAddr("10.1.255.30"), Origin: OriginNetwork, ASPath: FormatASPath(nil), Weight: LocalWeight})
	if !strings.Contains(string(b), `"nextHop":""`) || !strings.Contains(string(b), `"origin":"Network"`) {
		t.Errorf("GatewayRoute JSON %s", b)
	}
	if s := FormatASPath([]uint32{65515, 65010}); s != "65515-65010" {
		t.Errorf("FormatASPath = %s", s)
	}
}
