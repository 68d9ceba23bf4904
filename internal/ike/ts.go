package ike

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/vpngw/vpngw/internal/ike/message"
)

// prefixTS is the traffic selector covering prefix p, any protocol and port.
func prefixTS(p netip.Prefix) message.TrafficSelector {
	p = p.Masked()
	start := p.Addr()
	end := lastAddr(p)
	t := message.TSIPv4AddrRange
	if start.Is6() {
		t = message.TSIPv6AddrRange
	}
	return message.TrafficSelector{Type: t, StartPort: 0, EndPort: 65535, StartAddr: start, EndAddr: end}
}

func prefixesTS(ps []netip.Prefix) []message.TrafficSelector {
	out := make([]message.TrafficSelector, 0, len(ps))
	for _, p := range ps {
		out = append(out, prefixTS(p))
	}
	return out
}

// lastAddr is the highest address in p.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr()
	b := a.AsSlice()
	bits := p.Bits()
	for i := range b {
		for j := 0; j < 8; j++ {
			if i*8+j >= bits {
				b[i] |= 0x80 >> j
			}
		}
	}
	r, _ := netip.AddrFromSlice(b)
	return r
}

// intersect returns the intersection of two selectors, if any.
func intersect(a, b message.TrafficSelector) (message.TrafficSelector, bool) {
	if a.Type != b.Type || (a.Type != message.TSIPv4AddrRange && a.Type != message.TSIPv6AddrRange) {
		return message.TrafficSelector{}, false
	}
	r := message.TrafficSelector{Type: a.Type}
	switch {
	case a.IPProtocol == 0:
		r.IPProtocol = b.IPProtocol
	case b.IPProtocol == 0 || a.IPProtocol == b.IPProtocol:
		r.IPProtocol = a.IPProtocol
	default:
		return r, false
	}
	r.StartPort, r.EndPort = max(a.StartPort, b.StartPort), min(a.EndPort, b.EndPort)
	if r.StartPort > r.EndPort {
		// Covers the OPAQUE selector (65535..0) only when both are.
		if !(a.StartPort == 65535 && a.EndPort == 0 && b.StartPort == 65535 && b.EndPort == 0) {
			return r, false
		}
		r.StartPort, r.EndPort = 65535, 0
	}
	r.StartAddr = a.StartAddr
	if b.StartAddr.Compare(a.StartAddr) > 0 {
		r.StartAddr = b.StartAddr
	}
	r.EndAddr = a.EndAddr
	if b.EndAddr.Compare(a.EndAddr) < 0 {
		r.EndAddr = b.EndAddr
	}
	if r.StartAddr.Compare(r.EndAddr) > 0 {
		return r, false
	}
	return r, true
}

// narrow is the responder's traffic selector narrowing (RFC 7296 §2.9):
// the parts of the offered selectors that our configuration allows.
func narrow(offered []message.TrafficSelector, allowed []netip.Prefix) []message.TrafficSelector {
	var out []message.TrafficSelector
	for _, o := range offered {
		for _, p := range allowed {
			if r, ok := intersect(o, prefixTS(p)); ok && !containsTS(out, r) {
				out = append(out, r)
			}
		}
	}
	return out
}

func containsTS(list []message.TrafficSelector, t message.TrafficSelector) bool {
	for _, x := range list {
		if tsEqual(x, t) {
			return true
		}
	}
	return false
}

func tsEqual(a, b message.TrafficSelector) bool {
	return a.Type == b.Type && a.IPProtocol == b.IPProtocol && a.StartPort == b.StartPort &&
		a.EndPort == b.EndPort && a.StartAddr == b.StartAddr && a.EndAddr == b.EndAddr
}

func tsListEqual(a, b []message.TrafficSelector) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !tsEqual(a[i], b[i]) {
			return false
		}
	}
	return true
}

// subsetOf reports whether every selector of got lies within one of want
// (the initiator's check of the responder's narrowed selectors).
func subsetOf(got, want []message.TrafficSelector) bool {
	if len(got) == 0 {
		return false
	}
	for _, g := range got {
		ok := false
		for _, w := range want {
			if r, yes := intersect(g, w); yes && tsEqual(r, g) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// TSString renders a selector list as "10.1.0.0/16,10.2.0.0-10.2.0.9[tcp/80]".
func TSString(ts []message.TrafficSelector) string {
	var b strings.Builder
	for i, t := range ts {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(tsString(t))
	}
	return b.String()
}

func tsString(t message.TrafficSelector) string {
	var s string
	if ps := TSPrefixes(t); len(ps) == 1 {
		s = ps[0].String()
	} else {
		s = t.StartAddr.String() + "-" + t.EndAddr.String()
	}
	if t.IPProtocol != 0 || t.StartPort != 0 || t.EndPort != 65535 {
		s += "[" + strconv.Itoa(int(t.IPProtocol))
		if t.StartPort != 0 || t.EndPort != 65535 {
			s += "/" + strconv.Itoa(int(t.StartPort))
			if t.EndPort != t.StartPort {
				s += "-" + strconv.Itoa(int(t.EndPort))
			}
		}
		s += "]"
	}
	return s
}

// TSPrefixes converts a selector's address range to the smallest list of
// prefixes covering exactly that range.
func TSPrefixes(t message.TrafficSelector) []netip.Prefix {
	if !t.StartAddr.IsValid() || !t.EndAddr.IsValid() || t.StartAddr.Compare(t.EndAddr) > 0 {
		return nil
	}
	var out []netip.Prefix
	cur := t.StartAddr
	bitLen := cur.BitLen()
	for {
		// Largest prefix starting at cur that does not pass EndAddr.
		bits := bitLen
		for bits > 0 {
			p := netip.PrefixFrom(cur, bits-1)
			if p.Masked().Addr() != cur || lastAddr(p).Compare(t.EndAddr) > 0 {
				break
			}
			bits--
		}
		p := netip.PrefixFrom(cur, bits)
		out = append(out, p)
		last := lastAddr(p)
		if last.Compare(t.EndAddr) >= 0 {
			return out
		}
		cur = last.Next()
		if len(out) > 256 {
			return out // pathological range; enough for display and routing
		}
	}
}

// PrefixTS is the traffic selector covering prefix p, any protocol and
// port (for engines that negotiate prefixes, such as IKEv1's ID payloads).
func PrefixTS(p netip.Prefix) message.TrafficSelector { return prefixTS(p) }
