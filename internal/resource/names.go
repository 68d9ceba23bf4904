package resource

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/vpngw/vpngw/internal/bgp/bgprules"
	"github.com/vpngw/vpngw/internal/transform"
)

// Limits on names and tags (ARM).
const (
	MaxNameLength          = 80 // Microsoft.Network resources and children
	MaxResourceGroupLength = 90
	MaxTags                = 50
	MaxTagNameLength       = 512
	MaxTagValueLength      = 256
)

// ValidateName checks a resource name against ARM's naming rules. typ is a
// type segment ("resourceGroups", "virtualNetworks", "subnets", ...);
// target names the field for the error.
//
// Microsoft.Network names: 1-80 characters; letters, digits, underscores,
// periods and hyphens; start with a letter or digit; end with a letter, digit
// or underscore. Resource groups: 1-90 characters; letters, digits,
// underscores, parentheses, hyphens and periods; not ending in a period.
func ValidateName(typ, name, target string) error {
	if e := validateName(typ, name, target); e != nil {
		return e
	}
	return nil
}

func validateName(typ, name, target string) *Error {
	if strings.EqualFold(typ, TypeResourceGroups) {
		n := utf8.RuneCountInString(name)
		if n == 0 || n > MaxResourceGroupLength {
			return Errorf(CodeInvalidResourceName, target, "Resource group name %q is invalid: it must be 1 to %d characters long.", name, MaxResourceGroupLength)
		}
		for _, r := range name {
			if !(unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("_()-.", r)) {
				return Errorf(CodeInvalidResourceName, target,
					"Resource group name %q is invalid: %q is not allowed; use letters, digits, underscores, parentheses, hyphens and periods.", name, r)
			}
		}
		if strings.HasSuffix(name, ".") {
			return Errorf(CodeInvalidResourceName, target, "Resource group name %q is invalid: it cannot end with a period.", name)
		}
		return nil
	}
	if name == "" || len(name) > MaxNameLength {
		return Errorf(CodeInvalidResourceName, target, "Resource name %q is invalid: it must be 1 to %d characters long.", name, MaxNameLength)
	}
	alnum := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' }
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !alnum(c) && c != '_' && c != '.' && c != '-' {
			return Errorf(CodeInvalidResourceName, target,
				"Resource name %q is invalid: %q is not allowed; use letters, digits, underscores, periods and hyphens.", name, rune(c))
		}
	}
	if !alnum(name[0]) {
		return Errorf(CodeInvalidResourceName, target, "Resource name %q is invalid: it must start with a letter or a digit.", name)
	}
	if last := name[len(name)-1]; !alnum(last) && last != '_' {
		return Errorf(CodeInvalidResourceName, target, "Resource name %q is invalid: it must end with a letter, a digit or an underscore.", name)
	}
	return nil
}

// ValidateTags checks ARM's tag limits: at most 50 tags, names 1-512
// characters without <, >, %, &, \, ? or /, values at most 256 characters.
// target is the tags field ("tags").
func ValidateTags(tags map[string]string, target string) error {
	var l errList
	validateTags(&l, tags, target)
	return l.err()
}

func validateTags(l *errList, tags map[string]string, target string) {
	if len(tags) > MaxTags {
		l.addf(CodeInvalidTag, target, "A resource can have at most %d tags; got %d.", MaxTags, len(tags))
	}
	for _, k := range sortedStringKeys(tags) {
		v := tags[k]
		t := target + "." + k
		switch {
		case k == "":
			l.addf(CodeInvalidTag, target, "A tag name cannot be empty.")
		case utf8.RuneCountInString(k) > MaxTagNameLength:
			l.addf(CodeInvalidTag, t, "Tag name %.32q... is %d characters long; the limit is %d.", k, utf8.RuneCountInString(k), MaxTagNameLength)
		case strings.ContainsAny(k, `<>%&\?/`):
			l.addf(CodeInvalidTag, t, "Tag name %q is invalid: the characters < > %% & \\ ? / are not allowed.", k)
		}
		if utf8.RuneCountInString(v) > MaxTagValueLength {
			l.addf(CodeInvalidTag, t, "The value of tag %q is %d characters long; the limit is %d.", k, utf8.RuneCountInString(v), MaxTagValueLength)
		}
	}
}

func sortedStringKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }

// Shared key limits (reference §1.6).
const (
	MaxSharedKeyLength     = transform.MaxSharedKeyLength
	DefaultSharedKeyLength = 32
)

// ValidateSharedKey checks a pre-shared key: 1 to 128 characters of
// printable ASCII except space, hyphen (-) and tilde (~). target names the
// field ("properties.sharedKey", "value"). The message never contains the
// key.
func ValidateSharedKey(key, target string) error {
	if e := validateSharedKey(key, target); e != nil {
		return e
	}
	return nil
}

func validateSharedKey(key, target string) *Error {
	if err := transform.CheckSharedKey(key); err != nil {
		return Errorf(CodeInvalidSharedKey, target, "%s", err.Error())
	}
	return nil
}

// sharedKeyAlphabet is what GenerateSharedKey draws from: letters and
// digits, a subset of the allowed characters that needs no quoting in any
// device configuration.
const sharedKeyAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// GenerateSharedKey returns a random key of n characters (1..128) drawn
// uniformly from letters and digits using rand (crypto/rand.Reader in
// production). 32 characters carry about 190 bits.
func GenerateSharedKey(rand io.Reader, n int) (string, error) {
	if n < 1 || n > MaxSharedKeyLength {
		return "", Errorf(CodeInvalidParameter, "keyLength", "The key length must be 1 to %d; got %d.", MaxSharedKeyLength, n)
	}
	if rand == nil {
		return "", errors.New("resource: GenerateSharedKey needs a random source")
	}
	const limit = 256 - 256%len(sharedKeyAlphabet) // reject bytes that would bias the draw
	out := make([]byte, 0, n)
	buf := make([]byte, n+n/2)
	for len(out) < n {
		if _, err := io.ReadFull(rand, buf); err != nil {
			return "", fmt.Errorf("resource: generate shared key: %w", err)
		}
		for _, b := range buf {
			if int(b) < limit && len(out) < n {
				out = append(out, sharedKeyAlphabet[int(b)%len(sharedKeyAlphabet)])
			}
		}
	}
	return string(out), nil
}

// Reserved ASNs (reference §2.6).
//
//	Azure public: 8074, 8075, 12076
//	Azure private: 65515, 65517-65520
//	IANA: 0, 23456, 64496-64511, 65535-65551, 4294967295
const (
	DefaultGatewayASN = 65515
	MaxASN            = 4294967295
	// MaxPeerWeight is the largest bgpSettings.peerWeight (Azure: 0-100).
	MaxPeerWeight = 100
)

// ReservedASN reports whether asn may not be used, and why. The gateway's
// own default 65515 is reported as reserved too; callers allow it for a
// gateway.
func ReservedASN(asn int64) (string, bool) {
	if asn < 0 || asn > MaxASN {
		return "", false
	}
	return bgprules.Reserved(uint32(asn))
}

// validateASN checks an ASN; gateway allows the Azure default 65515.
func validateASN(asn int64, gateway bool, target string) *Error {
	if asn < 0 || asn > MaxASN {
		return Errorf(CodeInvalidAsn, target, "ASN %d is out of range: it must be 1 to %d.", asn, int64(MaxASN))
	}
	if gateway && asn == DefaultGatewayASN {
		return nil
	}
	if why, bad := ReservedASN(asn); bad {
		if asn == 0 && !gateway {
			return Errorf(CodeInvalidAsn, target, "The site's BGP ASN is required (0 is reserved); use a private ASN such as 64512-65514 or 65521-65534, or the site's public ASN.")
		}
		return Errorf(CodeInvalidAsn, target, "ASN %d cannot be used: it is %s. Private ASNs 64512-65514 and 65521-65534 are usable.", asn, why)
	}
	return nil
}
