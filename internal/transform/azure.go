package transform

import (
	"errors"
	"fmt"
	"strings"
)

// This file maps Azure VPN Gateway's IPsec/IKE policy vocabulary onto
// proposals and holds every default proposal list vpngw uses: Azure's own
// defaults (AzureDefault…) and the modern additions vpngw accepts so that
// peers with present-day defaults, strongSwan's in particular, connect
// without configuration (Modern…).

// azureCipher maps Azure's encryption names (case-insensitively).
var azureCipher = map[string]Encr{
	"DES3":      {EncrDES3, 0},
	"AES128":    {EncrAESCBC, 128},
	"AES192":    {EncrAESCBC, 192},
	"AES256":    {EncrAESCBC, 256},
	"GCMAES128": {EncrAESGCM16, 128},
	"GCMAES192": {EncrAESGCM16, 192},
	"GCMAES256": {EncrAESGCM16, 256},
}

// azureHash maps Azure's hash names to integrity algorithm and PRF.
var azureHash = map[string]struct{ integ, prf ID }{
	"MD5":    {IntegHMACMD596, PRFHMACMD5},
	"SHA1":   {IntegHMACSHA196, PRFHMACSHA1},
	"SHA256": {IntegHMACSHA2256128, PRFHMACSHA2256},
	"SHA384": {IntegHMACSHA2384192, PRFHMACSHA2384},
}

// azureDH maps Azure's dhGroup and pfsGroup names to groups; "PFSMM" (use
// the IKE SA's group) is handled by FromAzurePolicy.
var azureDH = map[string]ID{
	"DHGROUP1":    DHMODP768,
	"DHGROUP2":    DHMODP1024,
	"DHGROUP14":   DHMODP2048,
	"DHGROUP2048": DHMODP2048,
	"DHGROUP24":   DHMODP2048S256,
	"PFS1":        DHMODP768,
	"PFS2":        DHMODP1024,
	"PFS14":       DHMODP2048,
	"PFS2048":     DHMODP2048,
	"PFS24":       DHMODP2048S256,
	"ECP256":      DHECP256,
	"ECP384":      DHECP384,
}

// FromAzurePolicy translates an Azure custom IPsec/IKE policy (reference
// §3.3) into the single IKE and ESP proposal it allows. Names match
// case-insensitively. The mapping:
//
//   - DES (single DES) is not implemented: ErrUnsupported. DES3 is 3DES,
//     AESnnn AES-CBC, GCMAESnnn AES-GCM with a 16-byte ICV.
//   - ikeIntegrity names the hash of both the integrity algorithm and the
//     PRF (SHA384 gives HMAC_SHA2_384_192 and PRF_HMAC_SHA2_384, MD5 gives
//     HMAC_MD5_96). With GCM IKE encryption there is no integrity
//     algorithm: a hash name then only selects the PRF, and GCMAES128/256
//     select PRF_HMAC_SHA2_256 with PRF_HMAC_SHA2_384 as the alternative
//     (Azure's point-to-site gateway offers GCM with both). GCMAESnnn with
//     a non-GCM cipher is an error.
//   - dhGroup None is an error: IKEv2 always performs a key exchange.
//   - ipsecEncryption None is ENCR_NULL. With GCM, ipsecIntegrity must be
//     the same GCM algorithm and key length (reference §3.3).
//   - pfsGroup None means no PFS; PFSMM uses the IKE SA's group.
//   - ESP proposals offer no ESN.
//
// The lifetimes are not part of a proposal; callers read them from p.
// FromAzurePolicy does not apply IpsecPolicy.Check's rules (missing
// fields, lifetimes); callers check first.
func FromAzurePolicy(p IpsecPolicy) (ike Proposal, esp Proposal, err error) {
	ikeEncr, err := azureEncr("ikeEncryption", p.IkeEncryption, false)
	if err != nil {
		return Proposal{}, Proposal{}, err
	}
	ike.Encr = []Encr{ikeEncr}
	integ := strings.ToUpper(strings.TrimSpace(p.IkeIntegrity))
	if h, ok := azureHash[integ]; ok {
		ike.PRF = []ID{h.prf}
		if !IsAEAD(ikeEncr.ID) {
			ike.Integ = []ID{h.integ}
		}
	} else if g, ok := azureCipher[integ]; ok && IsAEAD(g.ID) {
		if !IsAEAD(ikeEncr.ID) {
			return Proposal{}, Proposal{}, fmt.Errorf("transform: Azure policy: ikeIntegrity %s requires GCM ikeEncryption, not %s", p.IkeIntegrity, p.IkeEncryption)
		}
		ike.PRF = []ID{PRFHMACSHA2256, PRFHMACSHA2384}
	} else {
		return Proposal{}, Proposal{}, fmt.Errorf("transform: Azure policy: unknown ikeIntegrity %q", p.IkeIntegrity)
	}
	dh := strings.ToUpper(strings.TrimSpace(p.DhGroup))
	group, ok := azureDH[dh]
	switch {
	case dh == "NONE":
		return Proposal{}, Proposal{}, errors.New("transform: Azure policy: dhGroup None cannot be used, IKEv2 always performs a key exchange")
	case !ok || strings.HasPrefix(dh, "PFS"):
		return Proposal{}, Proposal{}, fmt.Errorf("transform: Azure policy: unknown dhGroup %q", p.DhGroup)
	}
	ike.DH = []ID{group}

	espEncr, err := azureEncr("ipsecEncryption", p.IpsecEncryption, true)
	if err != nil {
		return Proposal{}, Proposal{}, err
	}
	esp.Encr = []Encr{espEncr}
	integ = strings.ToUpper(strings.TrimSpace(p.IpsecIntegrity))
	if h, ok := azureHash[integ]; ok && integ != "SHA384" {
		if IsAEAD(espEncr.ID) {
			return Proposal{}, Proposal{}, fmt.Errorf("transform: Azure policy: ipsecEncryption %s requires ipsecIntegrity %s", p.IpsecEncryption, p.IpsecEncryption)
		}
		esp.Integ = []ID{h.integ}
	} else if g, ok := azureCipher[integ]; ok && IsAEAD(g.ID) {
		if g != espEncr {
			return Proposal{}, Proposal{}, fmt.Errorf("transform: Azure policy: ipsecIntegrity %s must equal ipsecEncryption, not %s", p.IpsecIntegrity, p.IpsecEncryption)
		}
	} else {
		return Proposal{}, Proposal{}, fmt.Errorf("transform: Azure policy: unknown ipsecIntegrity %q", p.IpsecIntegrity)
	}
	pfs := strings.ToUpper(strings.TrimSpace(p.PfsGroup))
	switch group, ok := azureDH[pfs]; {
	case pfs == "NONE":
	case pfs == "PFSMM":
		esp.DH = []ID{ike.DH[0]}
	case ok && !strings.HasPrefix(pfs, "DHGROUP"):
		esp.DH = []ID{group}
	default:
		return Proposal{}, Proposal{}, fmt.Errorf("transform: Azure policy: unknown pfsGroup %q", p.PfsGroup)
	}
	esp.ESN = []ID{ESNNo}

	if err := ike.Validate(false); err != nil {
		return Proposal{}, Proposal{}, fmt.Errorf("transform: Azure policy IKE proposal: %w", err)
	}
	if err := esp.Validate(true); err != nil {
		return Proposal{}, Proposal{}, fmt.Errorf("transform: Azure policy ESP proposal: %w", err)
	}
	return ike, esp, nil
}

// azureEncr maps an Azure encryption name; none allows "None" (ENCR_NULL).
func azureEncr(field, name string, none bool) (Encr, error) {
	n := strings.ToUpper(strings.TrimSpace(name))
	switch {
	case n == "DES":
		return Encr{}, fmt.Errorf("%w: Azure %s DES (single DES)", ErrUnsupported, field)
	case n == "NONE" && none:
		return Encr{EncrNULL, 0}, nil
	}
	if e, ok := azureCipher[n]; ok {
		return e, nil
	}
	return Encr{}, fmt.Errorf("transform: Azure policy: unknown %s %q", field, name)
}

// Shorthands for the default tables below.
var (
	aes128    = Encr{EncrAESCBC, 128}
	aes256    = Encr{EncrAESCBC, 256}
	des3      = Encr{EncrDES3, 0}
	aesGCM128 = Encr{EncrAESGCM16, 128}
	aesGCM256 = Encr{EncrAESGCM16, 256}
)

// azureIKE builds an Azure default IKE proposal: cipher, the hash as
// integrity and PRF, DH group 2.
func azureIKE(e Encr, hash string) Proposal {
	h := azureHash[hash]
	return Proposal{Encr: []Encr{e}, Integ: []ID{h.integ}, PRF: []ID{h.prf}, DH: []ID{DHMODP1024}}
}

// azureESP builds an Azure default ESP proposal; hash "" for GCM, pfs
// DHNone for no PFS.
func azureESP(e Encr, hash string, pfs ID) Proposal {
	p := Proposal{Encr: []Encr{e}, ESN: []ID{ESNNo}}
	if hash != "" {
		p.Integ = []ID{azureHash[hash].integ}
	}
	if pfs != DHNone {
		p.DH = []ID{pfs}
	}
	return p
}

// AzureDefaultIKEProposals returns the IKE proposals of an Azure
// RouteBased gateway without a custom policy (reference §3.1), in Azure's
// order of preference: AES256/SHA1, AES256/SHA256, AES128/SHA1,
// AES128/SHA256, 3DES/SHA1, 3DES/SHA256, each with the PRF of its hash and
// DH group 2.
func AzureDefaultIKEProposals() []Proposal {
	return []Proposal{
		azureIKE(aes256, "SHA1"),
		azureIKE(aes256, "SHA256"),
		azureIKE(aes128, "SHA1"),
		azureIKE(aes128, "SHA256"),
		azureIKE(des3, "SHA1"),
		azureIKE(des3, "SHA256"),
	}
}

// AzureDefaultESPInitiator returns the six ESP offers of an Azure
// RouteBased gateway initiating a Child SA (reference §3.1), in order, all
// without PFS: AES-GCM-256, AES256/SHA1, 3DES/SHA1, AES256/SHA256,
// AES128/SHA1, 3DES/SHA256.
func AzureDefaultESPInitiator() []Proposal {
	return []Proposal{
		azureESP(aesGCM256, "", DHNone),
		azureESP(aes256, "SHA1", DHNone),
		azureESP(des3, "SHA1", DHNone),
		azureESP(aes256, "SHA256", DHNone),
		azureESP(aes128, "SHA1", DHNone),
		azureESP(des3, "SHA256", DHNone),
	}
}

// AzureDefaultESPResponder returns the ESP proposals an Azure RouteBased
// gateway accepts as responder (reference §3.1, rows 1–26 in order), each
// with its PFS group or none. Row 7 (single DES with SHA1) is skipped
// because single DES is not implemented, leaving 25 proposals.
func AzureDefaultESPResponder() []Proposal {
	const none = DHNone
	return []Proposal{
		azureESP(aesGCM256, "", none),              // 1
		azureESP(aes256, "SHA1", none),             // 2
		azureESP(des3, "SHA1", none),               // 3
		azureESP(aes256, "SHA256", none),           // 4
		azureESP(aes128, "SHA1", none),             // 5
		azureESP(des3, "SHA256", none),             // 6
		azureESP(aes256, "SHA1", DHMODP768),        // 8
		azureESP(aes256, "SHA1", DHMODP1024),       // 9
		azureESP(aes256, "SHA1", DHMODP2048),       // 10
		azureESP(aes128, "SHA1", DHMODP768),        // 11
		azureESP(aes128, "SHA1", DHMODP1024),       // 12
		azureESP(aes128, "SHA1", DHMODP2048),       // 13
		azureESP(des3, "SHA1", DHMODP768),          // 14
		azureESP(des3, "SHA1", DHMODP1024),         // 15
		azureESP(des3, "SHA256", DHMODP1024),       // 16
		azureESP(aes256, "SHA256", DHMODP768),      // 17
		azureESP(aes256, "SHA256", DHMODP1024),     // 18
		azureESP(aes256, "SHA256", DHMODP2048),     // 19
		azureESP(aes256, "SHA1", DHMODP2048S256),   // 20
		azureESP(aes256, "SHA256", DHMODP2048S256), // 21
		azureESP(aes128, "SHA256", none),           // 22
		azureESP(aes128, "SHA256", DHMODP768),      // 23
		azureESP(aes128, "SHA256", DHMODP1024),     // 24
		azureESP(aes128, "SHA256", DHMODP2048),     // 25
		azureESP(des3, "SHA1", DHMODP2048),         // 26
	}
}

// ModernIKEProposals returns the IKE proposals vpngw accepts in addition
// to Azure's defaults, so that peers with present-day default proposals
// (strongSwan's default includes AES-CBC-256/HMAC-SHA2-256/ECP-256 and
// AES-GCM-16 with PRF-HMAC-SHA2-256/384) connect without configuration:
//
//  1. AES-GCM-16 with 256- or 128-bit keys, PRF HMAC-SHA2-256 or -384,
//     DH ECP-256, ECP-384, Curve25519 or MODP-2048;
//  2. AES-CBC-256 with HMAC-SHA2-256-128 and PRF HMAC-SHA2-256,
//     DH MODP-2048 or ECP-256.
func ModernIKEProposals() []Proposal {
	return []Proposal{
		{
			Encr: []Encr{aesGCM256, aesGCM128},
			PRF:  []ID{PRFHMACSHA2256, PRFHMACSHA2384},
			DH:   []ID{DHECP256, DHECP384, DHCurve25519, DHMODP2048},
		},
		{
			Encr:  []Encr{aes256},
			Integ: []ID{IntegHMACSHA2256128},
			PRF:   []ID{PRFHMACSHA2256},
			DH:    []ID{DHMODP2048, DHECP256},
		},
	}
}

// ModernESPProposals returns the ESP proposals vpngw accepts in addition
// to Azure's defaults, the counterpart of ModernIKEProposals:
//
//  1. AES-GCM-16 with 256- or 128-bit keys, PFS optional (NONE first) or
//     with ECP-256, ECP-384, Curve25519 or MODP-2048;
//  2. AES-CBC-256 with HMAC-SHA2-256-128, PFS optional or with MODP-2048
//     or ECP-256.
//
// Both offer no ESN.
func ModernESPProposals() []Proposal {
	return []Proposal{
		{
			Encr: []Encr{aesGCM256, aesGCM128},
			DH:   []ID{DHNone, DHECP256, DHECP384, DHCurve25519, DHMODP2048},
			ESN:  []ID{ESNNo},
		},
		{
			Encr:  []Encr{aes256},
			Integ: []ID{IntegHMACSHA2256128},
			DH:    []ID{DHNone, DHMODP2048, DHECP256},
			ESN:   []ID{ESNNo},
		},
	}
}

// VpngwIKEProposals returns the IKE proposal between two vpngw gateways
// (a VNet-to-VNet connection, or two agents with peerType vpngw): AES-GCM-16
// with a 256-bit key (128 as the alternative), PRF HMAC-SHA2-256 or -384,
// DH ECP-256, ECP-384 or Curve25519. Azure's default list starts with
// AES256/SHA1/DH group 2, which is right for third-party devices configured
// from Azure's documentation but needlessly weak when both ends are ours.
func VpngwIKEProposals() []Proposal {
	return []Proposal{{
		Encr: []Encr{aesGCM256, aesGCM128},
		PRF:  []ID{PRFHMACSHA2256, PRFHMACSHA2384},
		DH:   []ID{DHECP256, DHECP384, DHCurve25519},
	}}
}

// VpngwESPProposals returns the ESP proposal between two vpngw gateways,
// the counterpart of VpngwIKEProposals: AES-GCM-16 (256, then 128) with PFS
// on rekeys from ECP-256, ECP-384 or Curve25519, no ESN.
func VpngwESPProposals() []Proposal {
	return []Proposal{{
		Encr: []Encr{aesGCM256, aesGCM128},
		DH:   []ID{DHECP256, DHECP384, DHCurve25519},
		ESN:  []ID{ESNNo},
	}}
}
