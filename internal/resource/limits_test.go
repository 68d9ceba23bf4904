package resource

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// disjoint returns n disjoint /24s of 10.0.0.0/8 and beyond.
func disjoint(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(10 + i>>16), byte(i >> 8), byte(i), 0}), 24).String()
	}
	return out
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// validateBounded validates o and checks the answer is small (20 errors
// listed, the rest counted) and fast.
func validateBounded(t *testing.T, o Object, code string) *Error {
	t.Helper()
	start := time.Now()
	err := Validate(o)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Validate took %v", d)
	}
	e, ok := AsError(err)
	if !ok || e.Code != code {
		t.Fatalf("got %v, want %s", err, code)
	}
	b, _ := json.Marshal(e)
	if len(e.Details) > maxReported || len(b) > 16<<10 {
		t.Fatalf("%d details, %d bytes: %.300s", len(e.Details), len(b), b)
	}
	return e
}

// TestValidationBounded: the bodies that made validation quadratic (in
// time and in the size of the error) get a small error, fast.
func TestValidationBounded(t *testing.T) {
	t.Run("2000 copies of one VNet prefix", func(t *testing.T) {
		validateBounded(t, newVNet("v", repeat("10.0.0.0/16", 2000)...), CodeLimitExceeded)
	})
	t.Run("VNet prefixes at the limit, all one", func(t *testing.T) {
		e := validateBounded(t, newVNet("v", repeat("10.0.0.0/16", MaxVnetAddressPrefixes)...), CodeAddressOverlap)
		last := e.Details[len(e.Details)-1]
		if want := fmt.Sprintf("And %d more errors", MaxVnetAddressPrefixes-1-maxReported); !strings.HasPrefix(last.Message, want) {
			t.Errorf("last detail %q, want %q...", last.Message, want)
		}
	})
	t.Run("subnet prefixes over the limit", func(t *testing.T) {
		v := newVNet("v", "10.0.0.0/8")
		v.Properties.Subnets = []Subnet{{Envelope: Envelope{Name: "s"}, Properties: SubnetProperties{AddressPrefixes: repeat("10.1.0.0/24", 2000)}}}
		validateBounded(t, v, CodeLimitExceeded)
	})
	t.Run("3000 subnets with one prefix", func(t *testing.T) {
		v := newVNet("v", "10.0.0.0/8")
		for i := range MaxSubnetsPerVnet {
			v.with(fmt.Sprintf("s%d", i), "10.1.0.0/24")
		}
		validateBounded(t, v, CodeAddressOverlap)
	})
	t.Run("local network gateway, 2000 copies", func(t *testing.T) {
		l := newLNG("l", "192.0.2.1", repeat("192.168.0.0/24", 2000)...)
		validateBounded(t, l, CodeLimitExceeded)
	})
	t.Run("traffic selector ranges", func(t *testing.T) {
		c := &Connection{Envelope: Envelope{Name: "c", Location: "westeurope"}}
		c.Properties.TrafficSelectorPolicies = []TrafficSelectorPolicy{{LocalAddressRanges: repeat("10.0.0.0/8", 5000), RemoteAddressRanges: []string{"192.168.0.0/16"}}}
		if e, _ := AsError(CheckLimits(c)); e == nil || e.Code != CodeLimitExceeded || e.Target != "properties.trafficSelectorPolicies[0].localAddressRanges" {
			t.Fatalf("CheckLimits: %v", e)
		}
	})
}

// TestOverlapErrorsKeepTargets: the sweep reports overlaps at the later
// entry of the body, as the pairwise loops did.
func TestOverlapErrorsKeepTargets(t *testing.T) {
	expectErr(t, Validate(newVNet("v", "10.1.0.0/16", "192.168.0.0/24", "10.0.0.0/8")), CodeAddressOverlap, "properties.addressSpace.addressPrefixes[2]", "10.0.0.0/8 overlaps 10.1.0.0/16")
	v := newVNet("v", "10.0.0.0/8").with("a", "10.1.0.0/16").with("b", "10.2.0.0/24").with("c", "10.1.5.0/24")
	expectErr(t, Validate(v), CodeAddressOverlap, "properties.subnets[2].properties.addressPrefix", `Subnet "c" prefix 10.1.5.0/24 overlaps subnet "a" prefix 10.1.0.0/16`)
	v = newVNet("v", "10.0.0.0/8").with("a", "10.1.0.0/24").with("A", "10.2.0.0/24")
	expectErr(t, Validate(v), CodeInvalidParameter, "properties.subnets[1].name", "used twice")
}

// BenchmarkValidateVirtualNetwork measures Validate of valid VNets of n
// address prefixes with one subnet in each, up to the limits: the time per
// prefix stays about the same (O(n log n)).
func BenchmarkValidateVirtualNetwork(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("prefixes=%d", n), func(b *testing.B) {
			space := disjoint(n)
			v := newVNet("v", space...)
			for i, p := range space {
				v.with(fmt.Sprintf("s%d", i), p)
			}
			benchValidate(b, v, n, "ns/prefix")
		})
	}
	for _, n := range []int{100, 1000, MaxSubnetsPerVnet} {
		b.Run(fmt.Sprintf("subnets=%d", n), func(b *testing.B) {
			v := newVNet("v", "10.0.0.0/8")
			for i, p := range disjoint(n) {
				v.with(fmt.Sprintf("s%d", i), p)
			}
			benchValidate(b, v, n, "ns/subnet")
		})
	}
	b.Run("overlapping=1000", func(b *testing.B) {
		v := newVNet("v", repeat("10.0.0.0/16", MaxVnetAddressPrefixes)...)
		for b.Loop() {
			Validate(v)
		}
	})
}

// benchValidate times Validate of a valid v and reports the time per each
// of its n list entries.
func benchValidate(b *testing.B, v *VirtualNetwork, n int, unit string) {
	b.Helper()
	for b.Loop() {
		if err := Validate(v); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), unit)
}
