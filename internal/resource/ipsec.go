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
// ("properties.ipsecPolicies[0]").
func validateIpsecPolicy(l *errList, p *IpsecPolicy, target string) {
	for _, pe := range p.Check() {
		e := Errorf(CodeInvalidIpsecPolicy, target+"."+pe.Field, "%s", pe.Message)
		for _, d := range pe.Also {
			e.Details = append(e.Details, *Errorf(CodeInvalidIpsecPolicy, target+"."+d.Field, "%s", d.Message))
		}
		l.add(e)
	}
}
