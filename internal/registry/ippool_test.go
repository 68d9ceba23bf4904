package registry

import (
	"net/netip"
	"testing"
)

func TestAddressPool(t *testing.T) {
	for _, tc := range []struct {
		cidrs []string
		v6    bool
		want  []string // allocation order until exhausted
	}{
		{[]string{"192.0.2.0/30"}, false, []string{"192.0.2.1", "192.0.2.2"}},
		{[]string{"192.0.2.8/31", "192.0.2.0/32"}, false, []string{"192.0.2.8", "192.0.2.9", "192.0.2.0"}},
		{[]string{"2001:db8::/126"}, true, []string{"2001:db8::1", "2001:db8::2", "2001:db8::3"}},
		{[]string{"192.0.2.0/30", "2001:db8::/127"}, true, []string{"2001:db8::", "2001:db8::1"}},
		{[]string{"192.0.2.0/30"}, true, nil},
	} {
		p, err := ParseAddressPool(tc.cidrs)
		if err != nil {
			t.Fatal(err)
		}
		used := map[netip.Addr]bool{}
		var got []string
		for {
			a, ok := p.Allocate(tc.v6, func(a netip.Addr) bool { return used[a] })
			if !ok {
				break
			}
			if !p.Contains(a) {
				t.Errorf("%v: allocated %s outside the pool", tc.cidrs, a)
			}
			used[a] = true
			got = append(got, a.String())
			if len(got) > 10 {
				break
			}
		}
		if len(got) != len(tc.want) {
			t.Errorf("%v v6=%v: allocated %v, want %v", tc.cidrs, tc.v6, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%v v6=%v: allocated %v, want %v", tc.cidrs, tc.v6, got, tc.want)
				break
			}
		}
	}
	// Lowest free after a release.
	p, _ := ParseAddressPool(DefaultPublicIPPool())
	used := map[netip.Addr]bool{netip.MustParseAddr("198.51.100.1"): true, netip.MustParseAddr("198.51.100.3"): true}
	if a, _ := p.Allocate(false, func(a netip.Addr) bool { return used[a] }); a.String() != "198.51.100.2" {
		t.Errorf("lowest free = %s", a)
	}
	if p.Contains(netip.MustParseAddr("198.51.100.0")) || p.Contains(netip.MustParseAddr("198.51.100.255")) || !p.Contains(netip.MustParseAddr("203.0.113.254")) {
		t.Error("Contains: network/broadcast handling")
	}
	for _, bad := range [][]string{nil, {"nonsense"}, {"192.0.2.1/24"}, {"192.0.2.0/24", "192.0.2.128/25"}} {
		if _, err := ParseAddressPool(bad); err == nil {
			t.Errorf("ParseAddressPool(%v) accepted", bad)
		}
	}
}
