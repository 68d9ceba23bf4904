package transform

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Encr is an encryption transform together with its key length, as one
// ENCR transform of a proposal carries it (RFC 7296 §3.3.5: the Key Length
// attribute is present for AES and absent for 3DES, ChaCha20-Poly1305 and
// NULL, which have KeyBits 0).
type Encr struct {
	// ID is the encryption algorithm.
	ID ID
	// KeyBits is the key length in bits, 0 when the algorithm has a
	// single key size and the attribute is omitted.
	KeyBits int
}

// String returns the strongSwan proposal keyword for e, e.g. "aes256",
// "aes128gcm16", "3des", "chacha20poly1305".
func (e Encr) String() string {
	bits := strconv.Itoa(e.KeyBits)
	switch e.ID {
	case EncrNULL:
		return "null"
	case EncrDES3:
		return "3des"
	case EncrChaCha20Poly1305:
		return "chacha20poly1305"
	case EncrAESCBC:
		return "aes" + bits
	case EncrAESCTR:
		return "aes" + bits + "ctr"
	case EncrAESGCM8:
		return "aes" + bits + "gcm8"
	case EncrAESGCM12:
		return "aes" + bits + "gcm12"
	case EncrAESGCM16:
		return "aes" + bits + "gcm16"
	}
	return e.Name()
}

// Name returns the log name of e in strongSwan's style, e.g. "AES_CBC_256",
// "AES_GCM_16_128", "3DES_CBC".
func (e Encr) Name() string {
	if e.KeyBits == 0 {
		return Name(TypeENCR, e.ID)
	}
	return Name(TypeENCR, e.ID) + "_" + strconv.Itoa(e.KeyBits)
}

// Proposal is one IKEv2 proposal: for each transform type a set of
// alternatives in order of preference (RFC 7296 §3.3). An IKE proposal has
// Encr, PRF, DH and (unless all Encr are combined-mode) Integ; an ESP
// proposal has Encr, Integ (unless combined-mode), ESN and optionally DH,
// the PFS groups used in CREATE_CHILD_SA, where DHNone makes PFS optional.
type Proposal struct {
	// Encr lists the encryption algorithms.
	Encr []Encr
	// PRF lists the pseudo-random functions (IKE only).
	PRF []ID
	// Integ lists the integrity algorithms; empty with combined-mode
	// encryption.
	Integ []ID
	// DH lists the Diffie-Hellman groups: required for IKE, the PFS
	// groups for ESP.
	DH []ID
	// ESN lists the extended sequence number choices (ESP only).
	ESN []ID
}

// proposalToken is what a keyword of the strongSwan proposal syntax stands for.
type proposalToken struct {
	typ     Type
	id      ID
	keyBits int
}

// proposalTokens maps the strongSwan proposal keywords this package
// implements (strongSwan's proposal_keywords_static.txt) to transforms.
var proposalTokens = func() map[string]proposalToken {
	m := map[string]proposalToken{
		"null":             {TypeENCR, EncrNULL, 0},
		"3des":             {TypeENCR, EncrDES3, 0},
		"aes":              {TypeENCR, EncrAESCBC, 128},
		"chacha20poly1305": {TypeENCR, EncrChaCha20Poly1305, 0},

		"md5":      {TypeINTEG, IntegHMACMD596, 0},
		"sha":      {TypeINTEG, IntegHMACSHA196, 0},
		"sha1":     {TypeINTEG, IntegHMACSHA196, 0},
		"sha256":   {TypeINTEG, IntegHMACSHA2256128, 0},
		"sha2_256": {TypeINTEG, IntegHMACSHA2256128, 0},
		"sha384":   {TypeINTEG, IntegHMACSHA2384192, 0},
		"sha2_384": {TypeINTEG, IntegHMACSHA2384192, 0},
		"sha512":   {TypeINTEG, IntegHMACSHA2512256, 0},
		"sha2_512": {TypeINTEG, IntegHMACSHA2512256, 0},

		"prfmd5":    {TypePRF, PRFHMACMD5, 0},
		"prfsha1":   {TypePRF, PRFHMACSHA1, 0},
		"prfsha256": {TypePRF, PRFHMACSHA2256, 0},
		"prfsha384": {TypePRF, PRFHMACSHA2384, 0},
		"prfsha512": {TypePRF, PRFHMACSHA2512, 0},

		"none":         {TypeDH, DHNone, 0},
		"modpnone":     {TypeDH, DHNone, 0},
		"modp768":      {TypeDH, DHMODP768, 0},
		"modp1024":     {TypeDH, DHMODP1024, 0},
		"modp1536":     {TypeDH, DHMODP1536, 0},
		"modp2048":     {TypeDH, DHMODP2048, 0},
		"modp3072":     {TypeDH, DHMODP3072, 0},
		"modp4096":     {TypeDH, DHMODP4096, 0},
		"modp2048s256": {TypeDH, DHMODP2048S256, 0},
		"ecp256":       {TypeDH, DHECP256, 0},
		"ecp384":       {TypeDH, DHECP384, 0},
		"ecp521":       {TypeDH, DHECP521, 0},
		"curve25519":   {TypeDH, DHCurve25519, 0},
		"x25519":       {TypeDH, DHCurve25519, 0},

		"esn":   {TypeESN, ESNYes, 0},
		"noesn": {TypeESN, ESNNo, 0},
	}
	for _, bits := range []int{128, 192, 256} {
		b := strconv.Itoa(bits)
		m["aes"+b] = proposalToken{TypeENCR, EncrAESCBC, bits}
		for _, s := range []string{"gcm", "gcm16", "gcm128"} {
			m["aes"+b+s] = proposalToken{TypeENCR, EncrAESGCM16, bits}
		}
		for _, s := range []string{"gcm12", "gcm96"} {
			m["aes"+b+s] = proposalToken{TypeENCR, EncrAESGCM12, bits}
		}
	}
	return m
}()

// unsupportedTokens are strongSwan keywords for algorithms this package
// deliberately does not implement; they fail with ErrUnsupported rather
// than as unknown words.
var unsupportedTokens = func() map[string]bool {
	m := map[string]bool{}
	for _, s := range []string{
		"des", "blowfish", "cast128", "camellia", "serpent", "twofish",
		"chacha20poly1305compat", "sha1_160", "sha256_96", "sha2_256_96",
		"md5_128", "aesxcbc", "aescmac", "camelliaxcbc", "prfaesxcbc",
		"prfaescmac", "prfcamelliaxcbc", "modpnull", "modp6144", "modp8192",
		"modp1024s160", "modp2048s224", "ecp192", "ecp224", "ecp224bp",
		"ecp256bp", "ecp384bp", "ecp512bp", "curve448", "x448",
	} {
		m[s] = true
	}
	for _, b := range []string{"", "128", "192", "256"} {
		for _, s := range []string{"ctr", "gcm8", "gcm64", "gmac", "ccm", "ccm8", "ccm64", "ccm12", "ccm96", "ccm16", "ccm128"} {
			if b != "" || s == "ctr" {
				m["aes"+b+s] = true
			}
		}
	}
	return m
}()

// ParseProposals parses strongSwan's proposal syntax (ipsec.conf ike=/esp=,
// swanctl proposals=/esp_proposals=): comma-separated proposals, each a
// dash-separated list of algorithm keywords such as
// "aes256gcm16-prfsha384-ecp384,aes256-sha256-modp2048". esp selects ESP
// rules, otherwise IKE rules apply. As in strongSwan:
//
//   - in IKE, integrity keywords also supply the PRFs when no prf… keyword
//     is given; a proposal without a PRF (e.g. AEAD-only without a prf…
//     keyword) or without a DH group is an error; "modpnone" is dropped;
//   - combined-mode and classic ciphers cannot be mixed in one proposal,
//     and integrity keywords are dropped from combined-mode proposals;
//   - in ESP, prf… keywords are ignored, DH groups are the PFS groups
//     ("modpnone" makes PFS optional) and the ESN choice defaults to noesn.
//
// Unlike strongSwan, ESP without integrity (classic cipher alone) is
// rejected, "null" is rejected in IKE, esn/noesn are rejected in IKE, and
// duplicate keywords are merged. Errors name the offending keyword or
// proposal.
func ParseProposals(s string, esp bool) ([]Proposal, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("transform: empty proposal list")
	}
	var out []Proposal
	for _, ps := range strings.Split(s, ",") {
		p, err := parseProposal(strings.TrimSpace(ps), esp)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func parseProposal(s string, esp bool) (Proposal, error) {
	if s == "" {
		return Proposal{}, errors.New("transform: empty proposal in list")
	}
	var p Proposal
	for _, word := range strings.Split(s, "-") {
		tok := strings.ToLower(strings.TrimSpace(word))
		if tok == "" {
			return Proposal{}, fmt.Errorf("transform: proposal %q: empty algorithm keyword", s)
		}
		t, ok := proposalTokens[tok]
		if !ok {
			if unsupportedTokens[tok] {
				return Proposal{}, fmt.Errorf("%w: %q in proposal %q", ErrUnsupported, tok, s)
			}
			return Proposal{}, fmt.Errorf("transform: proposal %q: unknown algorithm %q", s, tok)
		}
		switch t.typ {
		case TypeENCR:
			if !esp && t.id == EncrNULL {
				return Proposal{}, fmt.Errorf("transform: proposal %q: %q is not allowed in IKE proposals", s, tok)
			}
			if e := (Encr{t.id, t.keyBits}); !slices.Contains(p.Encr, e) {
				p.Encr = append(p.Encr, e)
			}
		case TypeINTEG:
			p.Integ = appendUnique(p.Integ, t.id)
		case TypePRF:
			if !esp { // strongSwan drops PRFs from ESP proposals
				p.PRF = appendUnique(p.PRF, t.id)
			}
		case TypeDH:
			if esp || t.id != DHNone { // strongSwan drops NONE from IKE
				p.DH = appendUnique(p.DH, t.id)
			}
		case TypeESN:
			if !esp {
				return Proposal{}, fmt.Errorf("transform: proposal %q: %q is not allowed in IKE proposals", s, tok)
			}
			p.ESN = appendUnique(p.ESN, t.id)
		}
	}
	if !esp && len(p.PRF) == 0 {
		for _, integ := range p.Integ {
			p.PRF = appendUnique(p.PRF, integToPRF[integ])
		}
	}
	if len(p.Encr) > 0 && IsAEAD(p.Encr[0].ID) {
		p.Integ = nil // strongSwan: AEAD proposals carry no integrity
	}
	if esp && len(p.ESN) == 0 {
		p.ESN = []ID{ESNNo}
	}
	if err := p.Validate(esp); err != nil {
		return Proposal{}, fmt.Errorf("transform: proposal %q: %w", s, err)
	}
	return p, nil
}

// integToPRF maps each integrity algorithm to the PRF over the same hash.
var integToPRF = map[ID]ID{
	IntegHMACMD596:      PRFHMACMD5,
	IntegHMACSHA196:     PRFHMACSHA1,
	IntegHMACSHA2256128: PRFHMACSHA2256,
	IntegHMACSHA2384192: PRFHMACSHA2384,
	IntegHMACSHA2512256: PRFHMACSHA2512,
}

func appendUnique(s []ID, id ID) []ID {
	if slices.Contains(s, id) {
		return s
	}
	return append(s, id)
}

// Validate checks that p is a complete proposal for IKE (esp false) or ESP
// that this package can carry out: every algorithm implemented, no mix of
// combined-mode and classic ciphers, integrity exactly when needed, a PRF
// and a DH group (not NONE) for IKE, no PRF and an ESN choice for ESP.
func (p Proposal) Validate(esp bool) error {
	if len(p.Encr) == 0 {
		return errors.New("an encryption algorithm is required")
	}
	aead := IsAEAD(p.Encr[0].ID)
	for _, e := range p.Encr {
		if IsAEAD(e.ID) != aead {
			return fmt.Errorf("combined-mode and classic encryption algorithms cannot be mixed (%s, %s)", p.Encr[0], e)
		}
		if _, err := EncrKeyLen(e.ID, e.KeyBits); err != nil {
			return fmt.Errorf("%w: %s", ErrUnsupported, e)
		}
		if !esp && e.ID == EncrNULL {
			return errors.New("null encryption is not allowed for IKE")
		}
	}
	switch {
	case aead && len(p.Integ) > 0:
		return fmt.Errorf("combined-mode encryption %s takes no integrity algorithm", p.Encr[0])
	case !aead && len(p.Integ) == 0:
		return fmt.Errorf("%w: %s without an integrity algorithm", ErrUnsupported, p.Encr[0])
	}
	for _, id := range p.Integ {
		if _, ok := integAlgs[id]; !ok {
			return fmt.Errorf("%w: integrity %s", ErrUnsupported, Name(TypeINTEG, id))
		}
	}
	for _, id := range p.PRF {
		if _, ok := prfAlgs[id]; !ok {
			return fmt.Errorf("%w: PRF %s", ErrUnsupported, Name(TypePRF, id))
		}
	}
	for _, id := range p.DH {
		if id == DHNone {
			if !esp {
				return errors.New("DH group NONE is not allowed for IKE")
			}
			continue
		}
		if _, err := DHPublicLen(id); err != nil {
			return err
		}
	}
	for _, id := range p.ESN {
		if id != ESNNo && id != ESNYes {
			return fmt.Errorf("%w: ESN %d", ErrUnsupported, id)
		}
	}
	if esp {
		if len(p.PRF) > 0 {
			return errors.New("ESP proposals carry no PRF")
		}
		if len(p.ESN) == 0 {
			return errors.New("an ESN choice (esn or noesn) is required for ESP")
		}
		return nil
	}
	switch {
	case len(p.PRF) == 0:
		return errors.New("a PRF is required for IKE (add e.g. prfsha256)")
	case len(p.DH) == 0:
		return errors.New("a DH group is required for IKE")
	case len(p.ESN) > 0:
		return errors.New("ESN is not negotiated for IKE")
	}
	return nil
}

var (
	integTokens = map[ID]string{
		IntegHMACMD596:      "md5",
		IntegHMACSHA196:     "sha1",
		IntegHMACSHA2256128: "sha256",
		IntegHMACSHA2384192: "sha384",
		IntegHMACSHA2512256: "sha512",
	}
	prfTokens = map[ID]string{
		PRFHMACMD5:     "prfmd5",
		PRFHMACSHA1:    "prfsha1",
		PRFHMACSHA2256: "prfsha256",
		PRFHMACSHA2384: "prfsha384",
		PRFHMACSHA2512: "prfsha512",
	}
	dhTokens = map[ID]string{
		DHNone:         "modpnone",
		DHMODP768:      "modp768",
		DHMODP1024:     "modp1024",
		DHMODP1536:     "modp1536",
		DHMODP2048:     "modp2048",
		DHMODP3072:     "modp3072",
		DHMODP4096:     "modp4096",
		DHMODP2048S256: "modp2048s256",
		DHECP256:       "ecp256",
		DHECP384:       "ecp384",
		DHECP521:       "ecp521",
		DHCurve25519:   "curve25519",
	}
	esnTokens = map[ID]string{ESNNo: "noesn", ESNYes: "esn"}
)

// String renders p in strongSwan's proposal syntax (encryption, integrity,
// PRF, DH groups, ESN), the inverse of ParseProposals: PRFs are always
// written out explicitly, and an ESN choice of exactly noesn, the ESP
// default, is omitted. Algorithms without a keyword are shown by Name.
func (p Proposal) String() string {
	var parts []string
	for _, e := range p.Encr {
		parts = append(parts, e.String())
	}
	add := func(t Type, ids []ID, tokens map[ID]string) {
		for _, id := range ids {
			if s, ok := tokens[id]; ok {
				parts = append(parts, s)
			} else {
				parts = append(parts, Name(t, id))
			}
		}
	}
	add(TypeINTEG, p.Integ, integTokens)
	add(TypePRF, p.PRF, prfTokens)
	add(TypeDH, p.DH, dhTokens)
	if !slices.Equal(p.ESN, []ID{ESNNo}) {
		add(TypeESN, p.ESN, esnTokens)
	}
	return strings.Join(parts, "-")
}

// FormatProposals renders a proposal list as ParseProposals reads it.
func FormatProposals(ps []Proposal) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}
