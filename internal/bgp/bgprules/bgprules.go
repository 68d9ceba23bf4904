// Package bgprules holds Azure's rules for BGP settings (reserved ASNs,
// the custom APIPA range, on-premises peer addresses), shared by the
// control plane (resource validation), the agent's configuration check
// (gwconfig) and the speaker (package bgp). It is a leaf: standard library
// only, so the contract packages may import it.
package bgprules

import (
	"errors"
	"fmt"
	"net/netip"
)

// DefaultASN is the ASN Azure gives a gateway when none is configured.
const DefaultASN = 65515

// Sentinel errors of the validation helpers; callers branch with errors.Is.
var (
	// ErrInvalidASN: an ASN of 0.
	ErrInvalidASN = errors.New("ASN 0 is not a valid ASN")
	// ErrReservedASN: an ASN Azure or IANA reserves.
	ErrReservedASN = errors.New("ASN is reserved")
	// ErrSameASN: the on-premises ASN equals the gateway's.
	ErrSameASN = errors.New("the on-premises ASN must differ from the gateway's ASN")
	// ErrAPIPARange: a custom APIPA BGP address outside 169.254.21.0-169.254.22.255.
	ErrAPIPARange = errors.New("custom APIPA BGP addresses must be in 169.254.21.0-169.254.22.255")
	// ErrPeerAddress: an on-premises BGP peer address Azure refuses.
	ErrPeerAddress = errors.New("invalid on-premises BGP peer address")
)

// reservedASNs are the ASNs no gateway and no on-premises device may use
// (reference §2.6), as inclusive ranges with the reason. 65515 is in the
// list: only the gateway itself may use it (ValidateGatewayASN). 65516 is
// not reserved (Azure lists 65515 and 65517-65520).
var reservedASNs = []struct {
	lo, hi uint32
	why    string
}{
	{8074, 8075, azurePublic},
	{12076, 12076, azurePublic},
	{65515, 65515, azurePrivate},
	{65517, 65520, azurePrivate},
	{0, 0, iana},
	{23456, 23456, iana},           // AS_TRANS
	{64496, 64511, iana},           // documentation
	{65535, 65551, iana},           // reserved / documentation
	{4294967295, 4294967295, iana}, // RFC 7300
}

const (
	azurePublic  = "reserved for Azure public peering"
	azurePrivate = "reserved by Azure (65515, 65517-65520)"
	iana         = "reserved by IANA (0, 23456, 64496-64511, 65535-65551, 4294967295)"
)

// Reserved reports whether asn is reserved, and by whom.
func Reserved(asn uint32) (why string, ok bool) {
	for _, r := range reservedASNs {
		if asn >= r.lo && asn <= r.hi {
			return r.why, true
		}
	}
	return "", false
}

func reserved(asn uint32) bool {
	_, ok := Reserved(asn)
	return ok
}

// apipaFirst and apipaLast bound the custom APIPA BGP addresses Azure takes.
var (
	apipaFirst = netip.MustParseAddr("169.254.21.0")
	apipaLast  = netip.MustParseAddr("169.254.22.255")
)

// ValidateGatewayASN checks the ASN of a gateway (bgpSettings.asn): any
// 16- or 32-bit ASN except the reserved ones, where the Azure default
// 65515 is allowed.
func ValidateGatewayASN(asn uint32) error {
	switch {
	case asn == 0:
		return ErrInvalidASN
	case asn == DefaultASN:
		return nil
	case reserved(asn):
		return fmt.Errorf("gateway ASN %d: %w", asn, ErrReservedASN)
	}
	return nil
}

// ValidatePeerASN checks the ASN of an on-premises BGP peer (a local
// network gateway's bgpSettings.asn) against the gateway's ASN: reserved
// ASNs, 65515 included, are refused, and the two must differ.
func ValidatePeerASN(asn, gatewayASN uint32) error {
	switch {
	case asn == 0:
		return ErrInvalidASN
	case reserved(asn):
		return fmt.Errorf("peer ASN %d: %w", asn, ErrReservedASN)
	case asn == gatewayASN:
		return fmt.Errorf("peer ASN %d: %w", asn, ErrSameASN)
	}
	return nil
}

// ValidateGatewayPeerASN checks the ASN of a peer that is another gateway
// (a VNet-to-VNet connection): the gateway rules apply (65515, Azure's
// default, is allowed) and it must differ from this gateway's ASN.
func ValidateGatewayPeerASN(asn, gatewayASN uint32) error {
	if err := ValidateGatewayASN(asn); err != nil {
		return err
	}
	if asn == gatewayASN {
		return fmt.Errorf("peer ASN %d: %w", asn, ErrSameASN)
	}
	return nil
}

// ValidateAPIPA checks a custom APIPA BGP address (customBgpIpAddresses,
// gatewayCustomBgpIpAddresses): it must lie in 169.254.21.0-169.254.22.255.
func ValidateAPIPA(addr netip.Addr) error {
	a := addr.Unmap()
	if !a.Is4() || a.Less(apipaFirst) || apipaLast.Less(a) {
		return fmt.Errorf("%v: %w", addr, ErrAPIPARange)
	}
	return nil
}

// ValidatePeerAddress checks an on-premises BGP peer address (a local
// network gateway's bgpPeeringAddress): it must not be the device's public
// IP address nor fall inside the VNet's address space. A loopback address
// of the device is fine.
func ValidatePeerAddress(addr, devicePublicIP netip.Addr, vnet []netip.Prefix) error {
	a := addr.Unmap()
	switch {
	case !a.IsValid():
		return fmt.Errorf("%w: no address", ErrPeerAddress)
	case a == devicePublicIP.Unmap():
		return fmt.Errorf("%w: %v is the device's public IP address", ErrPeerAddress, addr)
	}
	for _, p := range vnet {
		if p.Contains(a) {
			return fmt.Errorf("%w: %v is inside the VNet address space %v", ErrPeerAddress, addr, p)
		}
	}
	return nil
}

// IsAPIPA reports whether addr is a link-local (169.254.0.0/16) address,
// the kind Azure calls APIPA: such peers must initiate the session.
func IsAPIPA(addr netip.Addr) bool {
	return addr.Unmap().Is4() && addr.Unmap().IsLinkLocalUnicast()
}
