package resource

import (
	"fmt"
	"net/netip"
	"strings"
)

// errList collects rule violations; err returns the first with the others
// as its Details. It keeps maxReported and counts the rest, so that a body
// breaking a rule thousands of times gets a small answer.
type errList struct {
	errs []*Error
	// more counts the errors beyond maxReported.
	more int
}

func (l *errList) add(e *Error) {
	if e == nil {
		return
	}
	if len(l.errs) >= maxReported {
		l.more++
		return
	}
	l.errs = append(l.errs, e)
}

func (l *errList) addf(code, target, format string, args ...any) {
	if len(l.errs) >= maxReported {
		l.more++ // not formatted
		return
	}
	l.add(Errorf(code, target, format, args...))
}

// full reports whether further errors would only be counted: a check may
// stop looking.
func (l *errList) full() bool { return len(l.errs) >= maxReported }

func (l *errList) addAll(err error) {
	if err == nil {
		return
	}
	if e, ok := AsError(err); ok {
		l.add(e)
		for _, d := range e.Details {
			l.add(&d)
		}
		e.Details = nil
	}
}

func (l *errList) empty() bool { return len(l.errs) == 0 }

func (l *errList) err() error {
	if len(l.errs) == 0 {
		return nil
	}
	first := *l.errs[0]
	for _, e := range l.errs[1:] {
		d := *e
		d.Details = nil
		first.Details = append(first.Details, d)
		first.Details = append(first.Details, e.Details...)
	}
	if l.more > 0 {
		first.Details = append(first.Details, moreErrors(l.more, first.Code))
	}
	return &first
}

// parsePrefix parses a CIDR prefix that must be in canonical form (host
// bits zero, no IPv4-mapped IPv6).
func parsePrefix(s, target string) (netip.Prefix, *Error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, Errorf(CodeInvalidCIDR, target,
			"%q is not a valid CIDR prefix: write an IPv4 or IPv6 address, a slash and a prefix length, such as 10.1.0.0/16.", s)
	}
	if p.Addr().Is4In6() {
		return netip.Prefix{}, Errorf(CodeInvalidCIDR, target,
			"%q is an IPv4-mapped IPv6 prefix; write the IPv4 prefix %s instead.", s, netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0)).Masked())
	}
	if p.Masked() != p {
		return netip.Prefix{}, Errorf(CodeInvalidCIDR, target,
			"%q is not in canonical CIDR form: the bits after the /%d prefix length must be zero. For the given prefix length, the address prefix should be %s.",
			s, p.Bits(), p.Masked())
	}
	return p, nil
}

// parsePrefixList parses every prefix of a list; target is the list's path
// ("...addressPrefixes"), elements get "[i]". Bad entries are reported to l
// and left out of the result.
func parsePrefixList(l *errList, list []string, target string) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(list))
	for i, s := range list {
		p, e := parsePrefix(s, fmt.Sprintf("%s[%d]", target, i))
		if e != nil {
			l.add(e)
			continue
		}
		out = append(out, p)
	}
	return out
}

// parseAddr parses an IP address (no zone, no IPv4-mapped form).
func parseAddr(s, target, what string) (netip.Addr, *Error) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, Errorf(CodeInvalidParameter, target, "%s %q is not a valid IP address.", what, s)
	}
	if a.Is4In6() {
		return netip.Addr{}, Errorf(CodeInvalidParameter, target, "%s %q is an IPv4-mapped IPv6 address; write %s.", what, s, a.Unmap())
	}
	return a, nil
}

// validDNSName reports whether s is a DNS host name: labels of 1-63
// letters, digits and hyphens (not at either end), 253 characters at most,
// an optional trailing dot, and not an IP address.
func validDNSName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	if _, err := netip.ParseAddr(s); err == nil {
		return false
	}
	labels := strings.Split(s, ".")
	for _, l := range labels {
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	last := labels[len(labels)-1]
	return strings.Trim(last, "0123456789") != ""
}

// canonical returns the spelling from allowed that equals s
// case-insensitively, or s unchanged.
func canonical(s string, allowed ...string) string {
	for _, a := range allowed {
		if strings.EqualFold(s, a) {
			return a
		}
	}
	return s
}

// oneOf reports whether s is one of allowed (exactly; canonicalise first).
func oneOf(s string, allowed ...string) bool {
	for _, a := range allowed {
		if s == a {
			return true
		}
	}
	return false
}

// enumError is the error for a value outside an enumeration.
func enumError(target, value string, allowed ...string) *Error {
	if value == "" {
		return Errorf(CodeMissingParameter, target, "Property '%s' is required; allowed values: %s.", target, strings.Join(allowed, ", "))
	}
	return Errorf(CodeInvalidParameter, target, "Property '%s' has value %q; allowed values: %s.", target, value, strings.Join(allowed, ", "))
}

// checkEnum adds an error to l when v is not one of allowed.
func checkEnum(l *errList, target, v string, allowed ...string) {
	if !oneOf(v, allowed...) {
		l.add(enumError(target, v, allowed...))
	}
}

// canonicalLocation lower-cases a location and removes spaces
// ("West Europe" -> "westeurope"), as ARM normalises it.
func canonicalLocation(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(s), ""))
}

// sameID reports whether two reference strings name the same resource,
// comparing parsed IDs case-insensitively.
func sameID(a, b string) bool {
	ia, err1 := ParseID(a, "")
	ib, err2 := ParseID(b, "")
	if err1 != nil || err2 != nil {
		return strings.EqualFold(a, b)
	}
	return ia.Equal(ib)
}

// refID returns the ID string of an optional reference.
func refID(r *SubResource) string {
	if r == nil {
		return ""
	}
	return r.ID
}

// ipv4Prefix returns the first IPv4 prefix of a list.
func ipv4Prefix(list []netip.Prefix) (netip.Prefix, bool) {
	for _, p := range list {
		if p.Addr().Is4() {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

func joinPrefixes(list []netip.Prefix) string {
	s := make([]string, len(list))
	for i, p := range list {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}
