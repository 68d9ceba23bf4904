package resource

import (
	"fmt"
	"slices"
	"strings"
)

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

// canonicalIpsecPolicy rewrites enum values to ARM's spelling.
func canonicalIpsecPolicy(p *IpsecPolicy) {
	p.IkeEncryption = canonical(p.IkeEncryption, ikeEncryptions...)
	p.IkeIntegrity = canonical(p.IkeIntegrity, ikeIntegrities...)
	p.DhGroup = canonical(p.DhGroup, dhGroups...)
	p.IpsecEncryption = canonical(p.IpsecEncryption, ipsecEncryptions...)
	p.IpsecIntegrity = canonical(p.IpsecIntegrity, ipsecIntegrities...)
	p.PfsGroup = canonical(p.PfsGroup, pfsGroups...)
}

// validateIpsecPolicy checks one policy; target is its path
// ("properties.ipsecPolicies[0]").
func validateIpsecPolicy(l *errList, p *IpsecPolicy, target string) {
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
		e := Errorf(CodeInvalidIpsecPolicy, target+"."+missing[0],
			"An IPsec policy needs all eight parameters (saLifeTimeSeconds, saDataSizeKilobytes, ipsecEncryption, ipsecIntegrity, ikeEncryption, ikeIntegrity, dhGroup, pfsGroup); missing: %s.",
			strings.Join(missing, ", "))
		for _, m := range missing[1:] {
			e.Details = append(e.Details, *Errorf(CodeInvalidIpsecPolicy, target+"."+m, "IPsec policy parameter %s is required.", m))
		}
		l.add(e)
	}
	enum := func(field, v string, allowed []string) {
		if v != "" && !oneOf(v, allowed...) {
			l.addf(CodeInvalidIpsecPolicy, target+"."+field, "IPsec policy %s %q is not supported; allowed values: %s.", field, v, strings.Join(allowed, ", "))
		}
	}
	enum("ikeEncryption", p.IkeEncryption, ikeEncryptions)
	enum("ikeIntegrity", p.IkeIntegrity, ikeIntegrities)
	enum("dhGroup", p.DhGroup, dhGroups)
	enum("ipsecEncryption", p.IpsecEncryption, ipsecEncryptions)
	enum("ipsecIntegrity", p.IpsecIntegrity, ipsecIntegrities)
	enum("pfsGroup", p.PfsGroup, pfsGroups)
	if p.SaLifeTimeSeconds != 0 && (p.SaLifeTimeSeconds < MinSaLifeTimeSeconds || p.SaLifeTimeSeconds > MaxSaLifeTimeSeconds) {
		l.addf(CodeInvalidIpsecPolicy, target+".saLifeTimeSeconds",
			"saLifeTimeSeconds %d is out of range: the IPsec SA lifetime must be %d to %d seconds.", p.SaLifeTimeSeconds, MinSaLifeTimeSeconds, MaxSaLifeTimeSeconds)
	}
	if p.SaDataSizeKilobytes != 0 && p.SaDataSizeKilobytes < MinSaDataSizeKilobytes {
		l.addf(CodeInvalidIpsecPolicy, target+".saDataSizeKilobytes",
			"saDataSizeKilobytes %d is too small: the IPsec SA volume lifetime must be at least %d KB.", p.SaDataSizeKilobytes, MinSaDataSizeKilobytes)
	}
	isGCM := func(s string) bool { return strings.HasPrefix(s, "GCMAES") }
	if (isGCM(p.IpsecEncryption) || isGCM(p.IpsecIntegrity)) && p.IpsecEncryption != p.IpsecIntegrity &&
		oneOf(p.IpsecEncryption, ipsecEncryptions...) && oneOf(p.IpsecIntegrity, ipsecIntegrities...) {
		field := "ipsecIntegrity"
		if !isGCM(p.IpsecEncryption) {
			field = "ipsecEncryption"
		}
		l.addf(CodeInvalidIpsecPolicy, target+"."+field,
			"With GCM, ipsecEncryption and ipsecIntegrity must be the same GCM algorithm and key length; got ipsecEncryption %s with ipsecIntegrity %s.",
			p.IpsecEncryption, p.IpsecIntegrity)
	}
	if isGCM(p.IkeIntegrity) && p.IkeIntegrity != p.IkeEncryption && oneOf(p.IkeEncryption, ikeEncryptions...) {
		l.addf(CodeInvalidIpsecPolicy, target+".ikeIntegrity",
			"ikeIntegrity %s is allowed only with ikeEncryption %s (the same GCM algorithm); got ikeEncryption %s.",
			p.IkeIntegrity, p.IkeIntegrity, p.IkeEncryption)
	}
}

// String renders a policy the way Azure documents it (for messages).
func (p IpsecPolicy) String() string {
	return fmt.Sprintf("IKE %s/%s/%s, IPsec %s/%s/%s, %ds, %dKB",
		p.IkeEncryption, p.IkeIntegrity, p.DhGroup, p.IpsecEncryption, p.IpsecIntegrity, p.PfsGroup,
		p.SaLifeTimeSeconds, p.SaDataSizeKilobytes)
}

// ValidateIpsecPolicy canonicalises a policy's enum values (they are
// accepted case-insensitively) and checks it by the same rules as a
// connection's ipsecPolicies entry; target names the policy in errors
// ("connections[0].ipsecPolicy"). The agent's config file uses it.
func ValidateIpsecPolicy(p *IpsecPolicy, target string) error {
	canonicalIpsecPolicy(p)
	var l errList
	validateIpsecPolicy(&l, p, target)
	return l.err()
}
