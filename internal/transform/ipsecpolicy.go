package transform

import (
	"fmt"
	"slices"
	"strings"
)

// This file owns Azure's IPsec vocabulary: the custom IPsec/IKE policy
// (IpsecPolicy), its enumerations and rules, the SA lifetime and dead peer
// detection bounds, and the pre-shared key rule. The control plane
// (package resource) and the gateway configuration (package gwconfig) both
// check against these; FromAzurePolicy (azure.go) turns a policy into
// proposals.

// IpsecPolicy is an Azure custom IPsec/IKE policy: a connection's
// ipsecPolicies entry in the ARM API and a connection's ipsecPolicy in the
// agent configuration (same field names). All eight fields are required.
type IpsecPolicy struct {
	// SaLifeTimeSeconds is the IPsec (quick mode) SA lifetime: 300..172799.
	SaLifeTimeSeconds int `json:"saLifeTimeSeconds" yaml:"saLifeTimeSeconds"`
	// SaDataSizeKilobytes is the IPsec SA volume lifetime: >= 1024.
	SaDataSizeKilobytes int64 `json:"saDataSizeKilobytes" yaml:"saDataSizeKilobytes"`
	// IpsecEncryption is the phase 2 cipher: None, DES, DES3, AES128,
	// AES192, AES256, GCMAES128, GCMAES192, GCMAES256.
	IpsecEncryption string `json:"ipsecEncryption" yaml:"ipsecEncryption"`
	// IpsecIntegrity is the phase 2 integrity algorithm: MD5, SHA1, SHA256,
	// GCMAES128, GCMAES192, GCMAES256.
	IpsecIntegrity string `json:"ipsecIntegrity" yaml:"ipsecIntegrity"`
	// IkeEncryption is the phase 1 cipher: DES, DES3, AES128, AES192,
	// AES256, GCMAES128, GCMAES256.
	IkeEncryption string `json:"ikeEncryption" yaml:"ikeEncryption"`
	// IkeIntegrity is the phase 1 integrity algorithm: MD5, SHA1, SHA256,
	// SHA384, GCMAES128, GCMAES256.
	IkeIntegrity string `json:"ikeIntegrity" yaml:"ikeIntegrity"`
	// DhGroup is the phase 1 Diffie-Hellman group: None, DHGroup1,
	// DHGroup2, DHGroup14, DHGroup2048, ECP256, ECP384, DHGroup24.
	DhGroup string `json:"dhGroup" yaml:"dhGroup"`
	// PfsGroup is the phase 2 PFS group: None, PFS1, PFS2, PFS2048, ECP256,
	// ECP384, PFS24, PFS14, PFSMM.
	PfsGroup string `json:"pfsGroup" yaml:"pfsGroup"`
}

// Enumerations of IpsecPolicy fields, as the ARM API spells them (reference
// §3.3, API enums of 2018-08-01 = 2024-05-01). Read-only; IpsecPolicyValues
// hands out copies.
var (
	ikeEncryptions   = []string{"DES", "DES3", "AES128", "AES192", "AES256", "GCMAES256", "GCMAES128"}
	ikeIntegrities   = []string{"MD5", "SHA1", "SHA256", "SHA384", "GCMAES256", "GCMAES128"}
	dhGroups         = []string{"None", "DHGroup1", "DHGroup2", "DHGroup14", "DHGroup2048", "ECP256", "ECP384", "DHGroup24"}
	ipsecEncryptions = []string{"None", "DES", "DES3", "AES128", "AES192", "AES256", "GCMAES128", "GCMAES192", "GCMAES256"}
	ipsecIntegrities = []string{"MD5", "SHA1", "SHA256", "GCMAES128", "GCMAES192", "GCMAES256"}
	pfsGroups        = []string{"None", "PFS1", "PFS2", "PFS2048", "ECP256", "ECP384", "PFS24", "PFS14", "PFSMM"}
)

// IpsecPolicyValues returns the allowed values of an IpsecPolicy enum field
// by its JSON name ("ikeEncryption", "ikeIntegrity", "dhGroup",
// "ipsecEncryption", "ipsecIntegrity", "pfsGroup"), or nil.
func IpsecPolicyValues(field string) []string {
	var v []string
	switch field {
	case "ikeEncryption":
		v = ikeEncryptions
	case "ikeIntegrity":
		v = ikeIntegrities
	case "dhGroup":
		v = dhGroups
	case "ipsecEncryption":
		v = ipsecEncryptions
	case "ipsecIntegrity":
		v = ipsecIntegrities
	case "pfsGroup":
		v = pfsGroups
	}
	return slices.Clone(v)
}

// IPsec SA lifetime bounds (reference §3.3).
const (
	MinSaLifeTimeSeconds   = 300
	MaxSaLifeTimeSeconds   = 172799
	MinSaDataSizeKilobytes = 1024
)

// Dead peer detection timeout of a connection, in seconds (reference §1.4).
const (
	DefaultDpdTimeoutSeconds = 45
	MinDpdTimeoutSeconds     = 9
	MaxDpdTimeoutSeconds     = 3600
)

// Canonicalize rewrites the enum values (accepted case-insensitively) into
// ARM's spelling; values outside an enumeration are left as they are.
func (p *IpsecPolicy) Canonicalize() {
	p.IkeEncryption = canonical(p.IkeEncryption, ikeEncryptions)
	p.IkeIntegrity = canonical(p.IkeIntegrity, ikeIntegrities)
	p.DhGroup = canonical(p.DhGroup, dhGroups)
	p.IpsecEncryption = canonical(p.IpsecEncryption, ipsecEncryptions)
	p.IpsecIntegrity = canonical(p.IpsecIntegrity, ipsecIntegrities)
	p.PfsGroup = canonical(p.PfsGroup, pfsGroups)
}

func canonical(s string, allowed []string) string {
	for _, a := range allowed {
		if strings.EqualFold(s, a) {
			return a
		}
	}
	return s
}

// PolicyError is one broken rule of an IpsecPolicy.
type PolicyError struct {
	// Field is the policy field at fault, by its JSON name.
	Field string
	// Message says what is wrong, in ARM's style (a sentence).
	Message string
	// Also lists further fields with the same problem (missing
	// parameters), each with its own message.
	Also []PolicyError
}

func (e PolicyError) Error() string { return e.Field + ": " + e.Message }

// Check checks a canonicalized policy by Azure's rules: all eight fields
// present, enum values, lifetime bounds, and the GCM pairing. It returns
// every broken rule, in a stable order.
func (p *IpsecPolicy) Check() []PolicyError {
	var errs []PolicyError
	var missing []string
	need := func(name string, absent bool) {
		if absent {
			missing = append(missing, name)
		}
	}
	need("saLifeTimeSeconds", p.SaLifeTimeSeconds == 0)
	need("saDataSizeKilobytes", p.SaDataSizeKilobytes == 0)
	need("ipsecEncryption", p.IpsecEncryption == "")
	need("ipsecIntegrity", p.IpsecIntegrity == "")
	need("ikeEncryption", p.IkeEncryption == "")
	need("ikeIntegrity", p.IkeIntegrity == "")
	need("dhGroup", p.DhGroup == "")
	need("pfsGroup", p.PfsGroup == "")
	if len(missing) > 0 {
		e := PolicyError{Field: missing[0], Message: fmt.Sprintf(
			"An IPsec policy needs all eight parameters (saLifeTimeSeconds, saDataSizeKilobytes, ipsecEncryption, ipsecIntegrity, ikeEncryption, ikeIntegrity, dhGroup, pfsGroup); missing: %s.",
			strings.Join(missing, ", "))}
		for _, m := range missing[1:] {
			e.Also = append(e.Also, PolicyError{Field: m, Message: fmt.Sprintf("IPsec policy parameter %s is required.", m)})
		}
		errs = append(errs, e)
	}
	addf := func(field, format string, args ...any) {
		errs = append(errs, PolicyError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	enum := func(field, v string, allowed []string) {
		if v != "" && !slices.Contains(allowed, v) {
			addf(field, "IPsec policy %s %q is not supported; allowed values: %s.", field, v, strings.Join(allowed, ", "))
		}
	}
	enum("ikeEncryption", p.IkeEncryption, ikeEncryptions)
	enum("ikeIntegrity", p.IkeIntegrity, ikeIntegrities)
	enum("dhGroup", p.DhGroup, dhGroups)
	enum("ipsecEncryption", p.IpsecEncryption, ipsecEncryptions)
	enum("ipsecIntegrity", p.IpsecIntegrity, ipsecIntegrities)
	enum("pfsGroup", p.PfsGroup, pfsGroups)
	if p.SaLifeTimeSeconds != 0 && (p.SaLifeTimeSeconds < MinSaLifeTimeSeconds || p.SaLifeTimeSeconds > MaxSaLifeTimeSeconds) {
		addf("saLifeTimeSeconds", "saLifeTimeSeconds %d is out of range: the IPsec SA lifetime must be %d to %d seconds.", p.SaLifeTimeSeconds, MinSaLifeTimeSeconds, MaxSaLifeTimeSeconds)
	}
	if p.SaDataSizeKilobytes != 0 && p.SaDataSizeKilobytes < MinSaDataSizeKilobytes {
		addf("saDataSizeKilobytes", "saDataSizeKilobytes %d is too small: the IPsec SA volume lifetime must be at least %d KB.", p.SaDataSizeKilobytes, MinSaDataSizeKilobytes)
	}
	// The GCM rule: GCM is both cipher and integrity, so both names of a
	// phase must be the same GCM algorithm and key length.
	isGCM := func(s string) bool { return strings.HasPrefix(s, "GCMAES") }
	if (isGCM(p.IpsecEncryption) || isGCM(p.IpsecIntegrity)) && p.IpsecEncryption != p.IpsecIntegrity &&
		slices.Contains(ipsecEncryptions, p.IpsecEncryption) && slices.Contains(ipsecIntegrities, p.IpsecIntegrity) {
		field := "ipsecIntegrity"
		if !isGCM(p.IpsecEncryption) {
			field = "ipsecEncryption"
		}
		addf(field, "With GCM, ipsecEncryption and ipsecIntegrity must be the same GCM algorithm and key length; got ipsecEncryption %s with ipsecIntegrity %s.",
			p.IpsecEncryption, p.IpsecIntegrity)
	}
	if isGCM(p.IkeIntegrity) && p.IkeIntegrity != p.IkeEncryption && slices.Contains(ikeEncryptions, p.IkeEncryption) {
		addf("ikeIntegrity", "ikeIntegrity %s is allowed only with ikeEncryption %s (the same GCM algorithm); got ikeEncryption %s.",
			p.IkeIntegrity, p.IkeIntegrity, p.IkeEncryption)
	}
	return errs
}

// String renders a policy the way Azure documents it (for messages).
func (p IpsecPolicy) String() string {
	return fmt.Sprintf("IKE %s/%s/%s, IPsec %s/%s/%s, %ds, %dKB",
		p.IkeEncryption, p.IkeIntegrity, p.DhGroup, p.IpsecEncryption, p.IpsecIntegrity, p.PfsGroup,
		p.SaLifeTimeSeconds, p.SaDataSizeKilobytes)
}

// MaxSharedKeyLength is the longest pre-shared key (reference §1.6).
const MaxSharedKeyLength = 128

// CheckSharedKey checks a pre-shared key by Azure's rule: 1 to 128
// characters of printable ASCII except space, hyphen (-) and tilde (~).
// The message (a sentence) never contains the key.
func CheckSharedKey(key string) error {
	if key == "" {
		return fmt.Errorf("The shared key is empty; it must be 1 to %d characters.", MaxSharedKeyLength)
	}
	if len(key) > MaxSharedKeyLength {
		return fmt.Errorf("The shared key is %d characters long; it must be 1 to %d characters.", len(key), MaxSharedKeyLength)
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c > ' ' && c < 0x7f && c != '-' && c != '~' {
			continue
		}
		what := fmt.Sprintf("byte 0x%02x", c)
		switch {
		case c == ' ':
			what = "a space"
		case c == '-':
			what = "a hyphen (-)"
		case c == '~':
			what = "a tilde (~)"
		case c >= 0x80:
			what = "a non-ASCII character"
		}
		return fmt.Errorf("The shared key contains %s at position %d; it may contain only printable ASCII characters except space, hyphen (-) and tilde (~).", what, i+1)
	}
	return nil
}

// CheckIKEv1 is the rule a policy of an IKEv1 connection adds to Check:
// IKEv1 Main Mode has no AEAD cipher, so ikeEncryption and ikeIntegrity
// cannot be GCM (the IPsec side may be). It returns nil when p is usable
// with IKEv1.
func (p *IpsecPolicy) CheckIKEv1() *PolicyError {
	for _, f := range []struct{ name, v string }{{"ikeEncryption", p.IkeEncryption}, {"ikeIntegrity", p.IkeIntegrity}} {
		if strings.HasPrefix(strings.ToUpper(f.v), "GCMAES") {
			return &PolicyError{Field: f.name, Message: fmt.Sprintf(
				"%s %s is not available with IKEv1 (Main Mode has no AES-GCM); use AES256, AES192, AES128 or DES3 with SHA384, SHA256, SHA1 or MD5, or connectionProtocol IKEv2.", f.name, f.v)}
		}
	}
	return nil
}
