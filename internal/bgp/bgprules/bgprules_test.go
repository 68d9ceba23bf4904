package bgprules

import (
	"errors"
	"net/netip"
	"testing"
)

func TestValidateGatewayASN(t *testing.T) {
	for _, tc := range []struct {
		asn  uint32
		want error
	}{
		{65515, nil}, // Azure's default, for the gateway itself
		{65010, nil},
		{64512, nil},
		{65514, nil},
		{65521, nil},
		{65534, nil},
		{4200000000, nil}, // 32-bit
		{100000, nil},
		{0, ErrInvalidASN},
		{8074, ErrReservedASN},
		{8075, ErrReservedASN},
		{12076, ErrReservedASN},
		{23456, ErrReservedASN},
		{64496, ErrReservedASN},
		{64511, ErrReservedASN},
		{65516, nil}, // not in Azure's list (65515, 65517-65520)
		{65517, ErrReservedASN},
		{65520, ErrReservedASN},
		{65535, ErrReservedASN},
		{65551, ErrReservedASN},
		{65552, nil},
		{4294967295, ErrReservedASN},
	} {
		if err := ValidateGatewayASN(tc.asn); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("ValidateGatewayASN(%d) = %v, want %v", tc.asn, err, tc.want)
		}
	}
}

func TestValidatePeerASN(t *testing.T) {
	for _, tc := range []struct {
		asn, gw uint32
		want    error
	}{
		{65010, 65515, nil},
		{4200000000, 65515, nil},
		{65515, 65010, ErrReservedASN}, // only the gateway may use 65515
		{65518, 65515, ErrReservedASN},
		{12076, 65515, ErrReservedASN},
		{64500, 65515, ErrReservedASN},
		{65540, 65515, ErrReservedASN},
		{65010, 65010, ErrSameASN},
		{0, 65515, ErrInvalidASN},
	} {
		if err := ValidatePeerASN(tc.asn, tc.gw); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("ValidatePeerASN(%d, %d) = %v, want %v", tc.asn, tc.gw, err, tc.want)
		}
	}
}

func TestValidateAPIPA(t *testing.T) {
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"169.254.21.0", true},
		{"169.254.21.1", true},
		{"169.254.22.255", true},
		{"::ffff:169.254.21.5", true},
		{"169.254.20.255", false},
		{"169.254.23.0", false},
		{"169.254.0.1", false},
		{"10.0.0.1", false},
		{"fe80::1", false},
	} {
		a := netip.MustParseAddr(tc.addr)
		err := ValidateAPIPA(a)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrAPIPARange)) {
			t.Errorf("ValidateAPIPA(%s) = %v, want ok=%v", tc.addr, err, tc.ok)
		}
	}
	if !IsAPIPA(netip.MustParseAddr("169.254.0.1")) || IsAPIPA(netip.MustParseAddr("192.0.2.1")) {
		t.Error("IsAPIPA wrong")
	}
}

func TestValidatePeerAddress(t *testing.T) {
	pub := netip.MustParseAddr("203.0.113.10")
	vnet := []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("10.2.0.0/16")}
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"192.168.1.1", true},
		{"10.3.0.1", true},
		{"169.254.21.1", true},
		{"203.0.113.10", false}, // the device's public IP
		{"10.1.255.254", false}, // inside the VNet
		{"10.2.0.1", false},
	} {
		err := ValidatePeerAddress(netip.MustParseAddr(tc.addr), pub, vnet)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrPeerAddress)) {
			t.Errorf("ValidatePeerAddress(%s) = %v, want ok=%v", tc.addr, err, tc.ok)
		}
	}
	if err := ValidatePeerAddress(netip.Addr{}, pub, vnet); !errors.Is(err, ErrPeerAddress) {
		t.Errorf("no address: %v", err)
	}
}
