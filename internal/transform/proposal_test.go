package transform

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseProposals(t *testing.T) {
	cases := []struct {
		in   string
		esp  bool
		want []Proposal
	}{
		{"aes256-sha256-modp2048", false, []Proposal{{
			Encr: []Encr{{EncrAESCBC, 256}}, Integ: []ID{IntegHMACSHA2256128},
			PRF: []ID{PRFHMACSHA2256}, DH: []ID{DHMODP2048},
		}}},
		// Integrity keywords supply the PRFs, in order, without duplicates.
		{"aes128-aes256-sha1-sha256-sha1-ecp256-x25519", false, []Proposal{{
			Encr:  []Encr{{EncrAESCBC, 128}, {EncrAESCBC, 256}},
			Integ: []ID{IntegHMACSHA196, IntegHMACSHA2256128},
			PRF:   []ID{PRFHMACSHA1, PRFHMACSHA2256}, DH: []ID{DHECP256, DHCurve25519},
		}}},
		// An explicit PRF replaces the derived ones.
		{"3des-md5-prfsha1-modp1024", false, []Proposal{{
			Encr: []Encr{{EncrDES3, 0}}, Integ: []ID{IntegHMACMD596},
			PRF: []ID{PRFHMACSHA1}, DH: []ID{DHMODP1024},
		}}},
		// AEAD in IKE: PRF from the integrity keyword, which is then dropped.
		{"aes256gcm16-sha384-ecp384", false, []Proposal{{
			Encr: []Encr{{EncrAESGCM16, 256}}, PRF: []ID{PRFHMACSHA2384}, DH: []ID{DHECP384},
		}}},
		{"aes128gcm-aes256gcm128-chacha20poly1305-prfsha256-prfsha512-curve25519-modp2048s256-modpnone", false, []Proposal{{
			Encr: []Encr{{EncrAESGCM16, 128}, {EncrAESGCM16, 256}, {EncrChaCha20Poly1305, 0}},
			PRF:  []ID{PRFHMACSHA2256, PRFHMACSHA2512}, DH: []ID{DHCurve25519, DHMODP2048S256},
		}}},
		{" AES256-SHA256-MODP2048 , aes128gcm12-prfsha256-ecp521", false, []Proposal{
			{Encr: []Encr{{EncrAESCBC, 256}}, Integ: []ID{IntegHMACSHA2256128}, PRF: []ID{PRFHMACSHA2256}, DH: []ID{DHMODP2048}},
			{Encr: []Encr{{EncrAESGCM12, 128}}, PRF: []ID{PRFHMACSHA2256}, DH: []ID{DHECP521}},
		}},
		{"aes", false, nil}, // error: no integrity

		// ESP: noesn by default, DH groups are PFS groups, PRFs ignored.
		{"aes256-sha256", true, []Proposal{{
			Encr: []Encr{{EncrAESCBC, 256}}, Integ: []ID{IntegHMACSHA2256128}, ESN: []ID{ESNNo},
		}}},
		{"aes256gcm16-aes128gcm16-modp2048-esn-noesn", true, []Proposal{{
			Encr: []Encr{{EncrAESGCM16, 256}, {EncrAESGCM16, 128}}, DH: []ID{DHMODP2048}, ESN: []ID{ESNYes, ESNNo},
		}}},
		{"aes128gcm16-sha256-prfsha256-modpnone-ecp256", true, []Proposal{{
			Encr: []Encr{{EncrAESGCM16, 128}}, DH: []ID{DHNone, DHECP256}, ESN: []ID{ESNNo},
		}}},
		{"null-sha1,3des-md5-modp768", true, []Proposal{
			{Encr: []Encr{{EncrNULL, 0}}, Integ: []ID{IntegHMACSHA196}, ESN: []ID{ESNNo}},
			{Encr: []Encr{{EncrDES3, 0}}, Integ: []ID{IntegHMACMD596}, DH: []ID{DHMODP768}, ESN: []ID{ESNNo}},
		}},
	}
	for _, tc := range cases {
		got, err := ParseProposals(tc.in, tc.esp)
		if tc.want == nil {
			if err == nil {
				t.Errorf("ParseProposals(%q, esp=%v) = %v, want error", tc.in, tc.esp, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseProposals(%q, esp=%v): %v", tc.in, tc.esp, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseProposals(%q, esp=%v)\n got %+v\nwant %+v", tc.in, tc.esp, got, tc.want)
		}
	}
}

func TestParseProposalsErrors(t *testing.T) {
	cases := []struct {
		in          string
		esp         bool
		mention     string // the error names this
		unsupported bool
	}{
		{"aes256-sha256-modp2048-bogus", false, `"bogus"`, false},
		{"aes256gcm16-ecp256", false, "PRF", false},
		{"aes256-sha256", false, "DH group", false},
		{"aes256-sha256-modpnone", false, "DH group", false},
		{"aes256-aes256gcm16-sha256-modp2048", false, "mixed", false},
		{"null-sha256-modp2048", false, `"null"`, false},
		{"aes256-sha256-modp2048-esn", false, `"esn"`, false},
		{"des-sha1-modp1024", false, `"des"`, true},
		{"aes128gcm8-prfsha256-modp2048", false, `"aes128gcm8"`, true},
		{"aes128ctr-sha256-modp2048", false, `"aes128ctr"`, true},
		{"aes256-sha256-modp8192", false, `"modp8192"`, true},
		{"aes256-sha256-curve448", false, `"curve448"`, true},
		{"aes256-aesxcbc-modp2048", false, `"aesxcbc"`, true},
		{"aes256", true, "integrity", true},
		{"null", true, "integrity", true},
		{"aes256-sha256,,aes128-sha1", true, "empty proposal", false},
		{"aes256--sha256", true, "empty algorithm", false},
		{"", true, "empty", false},
		{"sha256-modp2048", true, "encryption", false},
	}
	for _, tc := range cases {
		_, err := ParseProposals(tc.in, tc.esp)
		if err == nil {
			t.Errorf("ParseProposals(%q, esp=%v) succeeded", tc.in, tc.esp)
			continue
		}
		if !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("ParseProposals(%q): error %q does not mention %s", tc.in, err, tc.mention)
		}
		if errors.Is(err, ErrUnsupported) != tc.unsupported {
			t.Errorf("ParseProposals(%q): error %q: ErrUnsupported = %v, want %v", tc.in, err, !tc.unsupported, tc.unsupported)
		}
	}
}

// Parsing what String renders gives the same proposals back.
func TestProposalRoundTrip(t *testing.T) {
	ike := []string{
		"aes256-sha256-modp2048",
		"aes128-aes192-aes256-sha256-sha384-sha512-sha1-md5-ecp256-ecp384-ecp521-curve25519-modp3072-modp4096-modp2048-modp1536-modp1024-modp768-modp2048s256",
		"aes128gcm16-aes192gcm16-aes256gcm16-aes256gcm12-chacha20poly1305-prfsha256-prfsha384-prfsha512-prfsha1-prfmd5-x25519",
		"3des-sha1-prfsha256-modp1024,aes256gcm16-prfsha384-ecp384",
	}
	esp := []string{
		"aes256-sha256",
		"aes128gcm16-aes256gcm16-modpnone-ecp256-esn-noesn",
		"null-sha512-esn",
		"chacha20poly1305-curve25519,3des-md5-noesn,aes192-sha384-modp2048s256",
	}
	check := func(s string, isESP bool) {
		t.Helper()
		ps, err := ParseProposals(s, isESP)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		again, err := ParseProposals(FormatProposals(ps), isESP)
		if err != nil || !reflect.DeepEqual(again, ps) {
			t.Errorf("round trip of %q via %q: %v, %+v", s, FormatProposals(ps), err, again)
		}
	}
	for _, s := range ike {
		check(s, false)
	}
	for _, s := range esp {
		check(s, true)
	}
	for _, p := range append(AzureDefaultIKEProposals(), ModernIKEProposals()...) {
		check(p.String(), false)
	}
	for _, p := range append(append(AzureDefaultESPInitiator(), AzureDefaultESPResponder()...), ModernESPProposals()...) {
		check(p.String(), true)
	}
	if got := (Proposal{Encr: []Encr{{EncrAESCBC, 128}}, Integ: []ID{IntegHMACSHA196}, ESN: []ID{ESNNo}}).String(); got != "aes128-sha1" {
		t.Errorf("String = %q, want aes128-sha1 (noesn omitted)", got)
	}
	if got := (Proposal{Encr: []Encr{{EncrAESGCM16, 256}}, PRF: []ID{PRFHMACSHA2256}, DH: []ID{DHECP256}}).String(); got != "aes256gcm16-prfsha256-ecp256" {
		t.Errorf("String = %q", got)
	}
}

func TestValidate(t *testing.T) {
	ok := Proposal{Encr: []Encr{{EncrAESGCM16, 128}}, PRF: []ID{PRFHMACSHA2256}, DH: []ID{DHECP256}}
	if err := ok.Validate(false); err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		name string
		p    Proposal
		esp  bool
	}{
		{"AEAD with integrity", Proposal{Encr: []Encr{{EncrAESGCM16, 128}}, Integ: []ID{IntegHMACSHA196}, PRF: []ID{PRFHMACSHA1}, DH: []ID{DHECP256}}, false},
		{"unsupported key size", Proposal{Encr: []Encr{{EncrAESGCM16, 0}}, PRF: []ID{PRFHMACSHA1}, DH: []ID{DHECP256}}, false},
		{"unknown PRF", Proposal{Encr: []Encr{{EncrAESGCM16, 128}}, PRF: []ID{4}, DH: []ID{DHECP256}}, false},
		{"unknown DH", Proposal{Encr: []Encr{{EncrAESGCM16, 128}}, PRF: []ID{PRFHMACSHA1}, DH: []ID{17}}, false},
		{"ESP with PRF", Proposal{Encr: []Encr{{EncrAESGCM16, 128}}, PRF: []ID{PRFHMACSHA1}, ESN: []ID{ESNNo}}, true},
		{"ESP without ESN", Proposal{Encr: []Encr{{EncrAESGCM16, 128}}}, true},
		{"ESP bad ESN", Proposal{Encr: []Encr{{EncrAESGCM16, 128}}, ESN: []ID{2}}, true},
	}
	for _, b := range bad {
		if err := b.p.Validate(b.esp); err == nil {
			t.Errorf("%s: Validate accepted %v", b.name, b.p)
		}
	}
}

func TestNames(t *testing.T) {
	cases := []struct {
		t    Type
		id   ID
		want string
	}{
		{TypeENCR, EncrAESGCM16, "AES_GCM_16"},
		{TypeENCR, EncrDES3, "3DES_CBC"},
		{TypeINTEG, IntegHMACSHA2256128, "HMAC_SHA2_256_128"},
		{TypePRF, PRFHMACSHA2384, "PRF_HMAC_SHA2_384"},
		{TypeDH, DHECP256, "ECP_256"},
		{TypeDH, DHMODP2048S256, "MODP_2048_256"},
		{TypeDH, DHCurve25519, "CURVE_25519"},
		{TypeESN, ESNYes, "EXT_SEQ"},
		{TypeENCR, 99, "ENCR(99)"},
		{Type(9), 1, "TYPE(9)(1)"},
	}
	for _, c := range cases {
		if got := Name(c.t, c.id); got != c.want {
			t.Errorf("Name(%v, %d) = %q, want %q", c.t, c.id, got, c.want)
		}
	}
	if got := (Encr{EncrAESCBC, 256}).Name(); got != "AES_CBC_256" {
		t.Errorf("Encr.Name = %q", got)
	}
	if got := (Encr{EncrChaCha20Poly1305, 0}).Name(); got != "CHACHA20_POLY1305" {
		t.Errorf("Encr.Name = %q", got)
	}
}
