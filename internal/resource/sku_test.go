package resource

import (
	"strings"
	"testing"
)

func TestSKUTable(t *testing.T) {
	tests := []struct {
		name        string
		gens        string
		tunnels     int
		policy      int
		sstp, ikev2 int
		gen1, gen2  int64
		bgp, aa, zr bool
		gatewayType string
	}{
		{"Basic", "Generation1", 10, 1, 128, 0, 100e6, 0, false, false, false, GatewayTypeVpn},
		{"VpnGw1", "Generation1", 30, 0, 128, 250, 650e6, 0, true, true, false, GatewayTypeVpn},
		{"VpnGw2", "Generation1,Generation2", 30, 0, 128, 500, 1e9, 1.25e9, true, true, false, GatewayTypeVpn},
		{"VpnGw3", "Generation1,Generation2", 30, 0, 128, 1000, 1.25e9, 2.5e9, true, true, false, GatewayTypeVpn},
		{"VpnGw4", "Generation2", 100, 0, 128, 5000, 0, 5e9, true, true, false, GatewayTypeVpn},
		{"VpnGw5", "Generation2", 100, 0, 128, 10000, 0, 10e9, true, true, false, GatewayTypeVpn},
		{"VpnGw1AZ", "Generation1", 30, 0, 128, 250, 650e6, 0, true, true, true, GatewayTypeVpn},
		{"VpnGw2AZ", "Generation1,Generation2", 30, 0, 128, 500, 1e9, 1.25e9, true, true, true, GatewayTypeVpn},
		{"VpnGw3AZ", "Generation1,Generation2", 30, 0, 128, 1000, 1.25e9, 2.5e9, true, true, true, GatewayTypeVpn},
		{"VpnGw4AZ", "Generation2", 100, 0, 128, 5000, 0, 5e9, true, true, true, GatewayTypeVpn},
		{"VpnGw5AZ", "Generation2", 100, 0, 128, 10000, 0, 10e9, true, true, true, GatewayTypeVpn},
		{"Standard", "None", 0, 0, 0, 0, 0, 0, true, false, false, GatewayTypeExpressRoute},
		{"HighPerformance", "None", 0, 0, 0, 0, 0, 0, true, false, false, GatewayTypeExpressRoute},
		{"UltraPerformance", "None", 0, 0, 0, 0, 0, 0, true, false, false, GatewayTypeExpressRoute},
		{"ErGw1AZ", "None", 0, 0, 0, 0, 0, 0, true, false, true, GatewayTypeExpressRoute},
		{"ErGw2AZ", "None", 0, 0, 0, 0, 0, 0, true, false, true, GatewayTypeExpressRoute},
		{"ErGw3AZ", "None", 0, 0, 0, 0, 0, 0, true, false, true, GatewayTypeExpressRoute},
	}
	if n := len(SKUs()); n != len(tests) {
		t.Fatalf("%d SKUs, test covers %d", n, len(tests))
	}
	for _, tt := range tests {
		s, ok := LookupSKU(strings.ToLower(tt.name))
		if !ok {
			t.Fatalf("LookupSKU(%s) not found", tt.name)
		}
		if s.Name != tt.name || strings.Join(s.Generations, ",") != tt.gens || s.MaxS2STunnels(VpnTypeRouteBased) != tt.tunnels ||
			s.MaxS2STunnels(VpnTypePolicyBased) != tt.policy || s.P2SSSTP != tt.sstp || s.P2SIKEv2OpenVPN != tt.ikev2 ||
			s.ThroughputFor(Generation1) != tt.gen1 || s.ThroughputFor(Generation2) != tt.gen2 ||
			s.BGP != tt.bgp || s.ActiveActive != tt.aa || s.ZoneRedundant != tt.zr || s.GatewayType != tt.gatewayType {
			t.Errorf("%s = %+v", tt.name, s)
		}
		if s.DefaultGeneration() != s.Generations[0] {
			t.Errorf("%s default generation", tt.name)
		}
	}
	if s, _ := LookupSKU("UltraPerformance"); s.ThroughputFor(GenerationNone) != 10e9 {
		t.Errorf("UltraPerformance throughput %d", s.ThroughputFor(GenerationNone))
	}
	if _, ok := LookupSKU("VpnGw6"); ok {
		t.Error("VpnGw6 found")
	}
	if !RetiredVpnSKU("standard") || !RetiredVpnSKU("HighPerformance") || RetiredVpnSKU("VpnGw1") {
		t.Error("RetiredVpnSKU")
	}
	if b, _ := LookupSKU("Basic"); b.RADIUS || b.CustomIPsecPolicy || b.IKEv1 {
		t.Errorf("Basic features %+v", b)
	}
	if got := strings.Join(SKUNames(GatewayTypeExpressRoute), ","); got != "Standard,HighPerformance,UltraPerformance,ErGw1AZ,ErGw2AZ,ErGw3AZ" {
		t.Errorf("ExpressRoute SKUs %s", got)
	}
	// SKUs returns copies.
	SKUs()[0].Throughput[Generation1] = 1
	if b, _ := LookupSKU("Basic"); b.ThroughputFor(Generation1) != 100e6 {
		t.Error("SKU table is shared mutable state")
	}
}

func TestCheckResize(t *testing.T) {
	tests := []struct {
		from, to, gen string
		ok            bool
	}{
		{"VpnGw1", "VpnGw3", Generation1, true},
		{"VpnGw3", "VpnGw1", Generation1, true},
		{"VpnGw2", "VpnGw5", Generation2, true},
		{"VpnGw1", "VpnGw4", Generation1, false},
		{"VpnGw5", "VpnGw1", Generation2, false},
		{"VpnGw1AZ", "VpnGw3AZ", Generation1, true},
		{"VpnGw2AZ", "VpnGw4AZ", Generation2, true},
		{"VpnGw1", "VpnGw1AZ", Generation1, false},
		{"VpnGw2AZ", "VpnGw2", Generation1, false},
		{"Basic", "VpnGw1", Generation1, false},
		{"VpnGw1", "Basic", Generation1, false},
		{"VpnGw1", "VpnGw1", Generation1, true},
		{"Standard", "HighPerformance", GenerationNone, true},
		{"Standard", "UltraPerformance", GenerationNone, true},
		{"HighPerformance", "UltraPerformance", GenerationNone, true},
		{"HighPerformance", "Standard", GenerationNone, true},
		{"UltraPerformance", "Standard", GenerationNone, false},
		{"ErGw1AZ", "ErGw2AZ", GenerationNone, true},
		{"ErGw1AZ", "ErGw3AZ", GenerationNone, true},
		{"ErGw2AZ", "ErGw3AZ", GenerationNone, true},
		{"ErGw2AZ", "ErGw1AZ", GenerationNone, true},
		{"ErGw3AZ", "ErGw2AZ", GenerationNone, false},
		{"Standard", "ErGw1AZ", GenerationNone, false},
	}
	for _, tt := range tests {
		from, _ := LookupSKU(tt.from)
		to, _ := LookupSKU(tt.to)
		err := CheckResize(from, to, tt.gen)
		if tt.ok {
			if err != nil {
				t.Errorf("%s -> %s: %v", tt.from, tt.to, err)
			}
			continue
		}
		if e, ok := AsError(err); !ok || e.Code != CodeResizeNotSupported || e.Target != "properties.sku.name" {
			t.Errorf("%s -> %s: got %v, want %s", tt.from, tt.to, err, CodeResizeNotSupported)
		}
	}
}
