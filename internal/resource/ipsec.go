package resource

import (
	"github.com/vpngw/vpngw/internal/transform"
)

// The Azure IPsec vocabulary (the policy, its enumerations and rules, the
// SA lifetime and dead peer detection bounds) lives in package transform,
// shared with the gateway configuration; these names are the API's view of
// it.

// IpsecPolicy is a custom IPsec/IKE policy; all eight fields are required.
type IpsecPolicy = transform.IpsecPolicy

// IpsecPolicyValues returns the allowed values of an IpsecPolicy enum field
// by its JSON name ("ikeEncryption", "ikeIntegrity", "dhGroup",
// "ipsecEncryption", "ipsecIntegrity", "pfsGroup"), or nil.
func IpsecPolicyValues(field string) []string { return transform.IpsecPolicyValues(field) }

// IPsec SA lifetime bounds (reference §3.3).
const (
	MinSaLifeTimeSeconds   = transform.MinSaLifeTimeSeconds
	MaxSaLifeTimeSeconds   = transform.MaxSaLifeTimeSeconds
	MinSaDataSizeKilobytes = transform.MinSaDataSizeKilobytes
)

// Dead peer detection timeout bounds (reference §1.4).
const (
	DefaultDpdTimeoutSeconds = transform.DefaultDpdTimeoutSeconds
	MinDpdTimeoutSeconds     = transform.MinDpdTimeoutSeconds
	MaxDpdTimeoutSeconds     = transform.MaxDpdTimeoutSeconds
)

// canonicalIpsecPolicy rewrites enum values to ARM's spelling.
func canonicalIpsecPolicy(p *IpsecPolicy) { p.Canonicalize() }

// validateIpsecPolicy checks one policy; target is its path
// ("properties.ipsecPolicies[0]"; "" for a body that is the policy).
func validateIpsecPolicy(l *errList, p *IpsecPolicy, target string) {
	field := func(f string) string {
		if target == "" {
			return f
		}
		return target + "." + f
	}
	for _, pe := range p.Check() {
		e := Errorf(CodeInvalidIpsecPolicy, field(pe.Field), "%s", pe.Message)
		for _, d := range pe.Also {
			e.Details = append(e.Details, *Errorf(CodeInvalidIpsecPolicy, field(d.Field), "%s", d.Message))
		}
		l.add(e)
	}
}

// ValidateVpnClientIPsecParameters checks the body of
// setvpnclientipsecparameters (Azure's VpnClientIPsecParameters: the eight
// IpsecPolicy fields, all required), canonicalizing p's enum values;
// errors name the body's fields.
func ValidateVpnClientIPsecParameters(p *IpsecPolicy) error {
	canonicalIpsecPolicy(p)
	var l errList
	validateIpsecPolicy(&l, p, "")
	return l.err()
}
