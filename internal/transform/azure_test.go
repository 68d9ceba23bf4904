package transform

import (
	"errors"
	"reflect"
	"slices"
	"testing"
)

func TestFromAzurePolicy(t *testing.T) {
	cases := []struct {
		name     string
		p        IpsecPolicy
		ike, esp Proposal
	}{
		{
			name: "recommended AES256/SHA256/DH2, GCM-AES256, no PFS",
			p: IpsecPolicy{IkeEncryption: "AES256", IkeIntegrity: "SHA256", DhGroup: "DHGroup2",
				IpsecEncryption: "GCMAES256", IpsecIntegrity: "GCMAES256", PfsGroup: "None"},
			ike: Proposal{Encr: []Encr{{EncrAESCBC, 256}}, Integ: []ID{IntegHMACSHA2256128}, PRF: []ID{PRFHMACSHA2256}, DH: []ID{DHMODP1024}},
			esp: Proposal{Encr: []Encr{{EncrAESGCM16, 256}}, ESN: []ID{ESNNo}},
		},
		{
			name: "SHA384 gives PRF SHA384 and HMAC_SHA2_384_192",
			p: IpsecPolicy{IkeEncryption: "aes128", IkeIntegrity: "sha384", DhGroup: "ECP384",
				IpsecEncryption: "AES192", IpsecIntegrity: "SHA1", PfsGroup: "PFS24"},
			ike: Proposal{Encr: []Encr{{EncrAESCBC, 128}}, Integ: []ID{IntegHMACSHA2384192}, PRF: []ID{PRFHMACSHA2384}, DH: []ID{DHECP384}},
			esp: Proposal{Encr: []Encr{{EncrAESCBC, 192}}, Integ: []ID{IntegHMACSHA196}, DH: []ID{DHMODP2048S256}, ESN: []ID{ESNNo}},
		},
		{
			name: "GCM IKE with GCM integrity: PRF SHA256, SHA384 alternative",
			p: IpsecPolicy{IkeEncryption: "GCMAES256", IkeIntegrity: "GCMAES256", DhGroup: "DHGroup24",
				IpsecEncryption: "GCMAES128", IpsecIntegrity: "GCMAES128", PfsGroup: "ECP256"},
			ike: Proposal{Encr: []Encr{{EncrAESGCM16, 256}}, PRF: []ID{PRFHMACSHA2256, PRFHMACSHA2384}, DH: []ID{DHMODP2048S256}},
			esp: Proposal{Encr: []Encr{{EncrAESGCM16, 128}}, DH: []ID{DHECP256}, ESN: []ID{ESNNo}},
		},
		{
			name: "GCM IKE with hash integrity: hash is the PRF only",
			p: IpsecPolicy{IkeEncryption: "GCMAES128", IkeIntegrity: "SHA384", DhGroup: "DHGroup2048",
				IpsecEncryption: "None", IpsecIntegrity: "SHA256", PfsGroup: "PFSMM"},
			ike: Proposal{Encr: []Encr{{EncrAESGCM16, 128}}, PRF: []ID{PRFHMACSHA2384}, DH: []ID{DHMODP2048}},
			esp: Proposal{Encr: []Encr{{EncrNULL, 0}}, Integ: []ID{IntegHMACSHA2256128}, DH: []ID{DHMODP2048}, ESN: []ID{ESNNo}},
		},
		{
			name: "3DES/MD5/DH1, PFS14",
			p: IpsecPolicy{IkeEncryption: "DES3", IkeIntegrity: "MD5", DhGroup: "DHGroup1",
				IpsecEncryption: "DES3", IpsecIntegrity: "MD5", PfsGroup: "PFS14"},
			ike: Proposal{Encr: []Encr{{EncrDES3, 0}}, Integ: []ID{IntegHMACMD596}, PRF: []ID{PRFHMACMD5}, DH: []ID{DHMODP768}},
			esp: Proposal{Encr: []Encr{{EncrDES3, 0}}, Integ: []ID{IntegHMACMD596}, DH: []ID{DHMODP2048}, ESN: []ID{ESNNo}},
		},
		{
			name: "PFS1, PFS2, PFS2048 spellings",
			p: IpsecPolicy{IkeEncryption: "AES192", IkeIntegrity: "SHA1", DhGroup: "DHGroup14",
				IpsecEncryption: "AES256", IpsecIntegrity: "SHA256", PfsGroup: "PFS2048"},
			ike: Proposal{Encr: []Encr{{EncrAESCBC, 192}}, Integ: []ID{IntegHMACSHA196}, PRF: []ID{PRFHMACSHA1}, DH: []ID{DHMODP2048}},
			esp: Proposal{Encr: []Encr{{EncrAESCBC, 256}}, Integ: []ID{IntegHMACSHA2256128}, DH: []ID{DHMODP2048}, ESN: []ID{ESNNo}},
		},
	}
	for _, tc := range cases {
		ike, esp, err := FromAzurePolicy(tc.p)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !reflect.DeepEqual(ike, tc.ike) {
			t.Errorf("%s: IKE\n got %v\nwant %v", tc.name, ike, tc.ike)
		}
		if !reflect.DeepEqual(esp, tc.esp) {
			t.Errorf("%s: ESP\n got %v\nwant %v", tc.name, esp, tc.esp)
		}
	}
}

func TestFromAzurePolicyErrors(t *testing.T) {
	good := IpsecPolicy{IkeEncryption: "AES256", IkeIntegrity: "SHA256", DhGroup: "DHGroup14",
		IpsecEncryption: "AES256", IpsecIntegrity: "SHA256", PfsGroup: "None"}
	cases := []struct {
		name        string
		edit        func(*IpsecPolicy)
		unsupported bool
	}{
		{"IKE single DES", func(p *IpsecPolicy) { p.IkeEncryption = "DES" }, true},
		{"IPsec single DES", func(p *IpsecPolicy) { p.IpsecEncryption = "DES" }, true},
		{"GCM integrity with CBC IKE", func(p *IpsecPolicy) { p.IkeIntegrity = "GCMAES256" }, false},
		{"DH None", func(p *IpsecPolicy) { p.DhGroup = "None" }, false},
		{"PFS name as DH group", func(p *IpsecPolicy) { p.DhGroup = "PFS2" }, false},
		{"DH name as PFS group", func(p *IpsecPolicy) { p.PfsGroup = "DHGroup2" }, false},
		{"GCM ESP with SHA integrity", func(p *IpsecPolicy) { p.IpsecEncryption = "GCMAES256" }, false},
		{"GCM ESP integrity size mismatch", func(p *IpsecPolicy) {
			p.IpsecEncryption, p.IpsecIntegrity = "GCMAES256", "GCMAES128"
		}, false},
		{"GCM integrity with CBC ESP", func(p *IpsecPolicy) { p.IpsecIntegrity = "GCMAES256" }, false},
		{"NULL encryption with GMAC", func(p *IpsecPolicy) {
			p.IpsecEncryption, p.IpsecIntegrity = "None", "GCMAES256"
		}, false},
		{"unknown IKE encryption", func(p *IpsecPolicy) { p.IkeEncryption = "AES512" }, false},
		{"IKE None encryption", func(p *IpsecPolicy) { p.IkeEncryption = "None" }, false},
		{"unknown integrity", func(p *IpsecPolicy) { p.IkeIntegrity = "SHA3" }, false},
		{"SHA384 IPsec integrity", func(p *IpsecPolicy) { p.IpsecIntegrity = "SHA384" }, false},
		{"unknown PFS", func(p *IpsecPolicy) { p.PfsGroup = "PFS5" }, false},
	}
	if _, _, err := FromAzurePolicy(good); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		p := good
		tc.edit(&p)
		_, _, err := FromAzurePolicy(p)
		if err == nil {
			t.Errorf("%s: accepted", tc.name)
			continue
		}
		if errors.Is(err, ErrUnsupported) != tc.unsupported {
			t.Errorf("%s: %v, ErrUnsupported want %v", tc.name, err, tc.unsupported)
		}
	}
}

func TestAzureDefaults(t *testing.T) {
	ike := AzureDefaultIKEProposals()
	if got := FormatProposals(ike); got != "aes256-sha1-prfsha1-modp1024,aes256-sha256-prfsha256-modp1024,"+
		"aes128-sha1-prfsha1-modp1024,aes128-sha256-prfsha256-modp1024,3des-sha1-prfsha1-modp1024,3des-sha256-prfsha256-modp1024" {
		t.Errorf("AzureDefaultIKEProposals = %s", got)
	}
	if got := FormatProposals(AzureDefaultESPInitiator()); got != "aes256gcm16,aes256-sha1,3des-sha1,aes256-sha256,aes128-sha1,3des-sha256" {
		t.Errorf("AzureDefaultESPInitiator = %s", got)
	}
	resp := AzureDefaultESPResponder()
	if len(resp) != 25 {
		t.Fatalf("%d responder proposals, want 25 (26 rows without single DES)", len(resp))
	}
	want := []string{ // reference §3.1 rows 1–6, 8–26
		"aes256gcm16", "aes256-sha1", "3des-sha1", "aes256-sha256", "aes128-sha1", "3des-sha256",
		"aes256-sha1-modp768", "aes256-sha1-modp1024", "aes256-sha1-modp2048",
		"aes128-sha1-modp768", "aes128-sha1-modp1024", "aes128-sha1-modp2048",
		"3des-sha1-modp768", "3des-sha1-modp1024", "3des-sha256-modp1024",
		"aes256-sha256-modp768", "aes256-sha256-modp1024", "aes256-sha256-modp2048",
		"aes256-sha1-modp2048s256", "aes256-sha256-modp2048s256",
		"aes128-sha256", "aes128-sha256-modp768", "aes128-sha256-modp1024", "aes128-sha256-modp2048",
		"3des-sha1-modp2048",
	}
	seen := map[string]bool{}
	for i, p := range resp {
		if p.String() != want[i] {
			t.Errorf("responder proposal %d = %s, want %s", i, p, want[i])
		}
		if seen[p.String()] {
			t.Errorf("duplicate responder proposal %s", p)
		}
		seen[p.String()] = true
	}
	for _, p := range append(ike, ModernIKEProposals()...) {
		if err := p.Validate(false); err != nil {
			t.Errorf("IKE %s: %v", p, err)
		}
	}
	for _, p := range append(append(AzureDefaultESPInitiator(), resp...), ModernESPProposals()...) {
		if err := p.Validate(true); err != nil {
			t.Errorf("ESP %s: %v", p, err)
		}
	}
	// Each call returns fresh slices.
	a := ModernIKEProposals()
	a[0].DH[0] = DHMODP768
	if ModernIKEProposals()[0].DH[0] == DHMODP768 {
		t.Error("ModernIKEProposals shares state between calls")
	}
}

// strongSwan's default proposals (5.9: AES-CBC-128/192/256 with
// HMAC-SHA2 and ECP/Curve25519/MODP groups for IKE; AES-GCM-16 and
// AES-CBC/SHA2 without PFS for ESP) must have an algorithm in common with
// some vpngw modern proposal for every transform type.
func TestModernOverlapsStrongSwanDefaults(t *testing.T) {
	ssIKE, err := ParseProposals("aes128-aes192-aes256-sha256-sha384-sha512-sha1-prfsha256-prfsha384-prfsha512-prfsha1-"+
		"ecp256-ecp384-ecp521-curve25519-modp3072-modp4096-modp2048,"+
		"aes128gcm16-aes192gcm16-aes256gcm16-chacha20poly1305-prfsha256-prfsha384-prfsha512-prfsha1-"+
		"ecp256-ecp384-ecp521-curve25519-modp3072-modp4096-modp2048", false)
	if err != nil {
		t.Fatal(err)
	}
	ssESP, err := ParseProposals("aes128gcm16-aes192gcm16-aes256gcm16,aes128-aes192-aes256-sha256-sha384-sha512-sha1", true)
	if err != nil {
		t.Fatal(err)
	}
	check := func(ours, theirs []Proposal) {
		t.Helper()
		for _, o := range ours {
			if !slices.ContainsFunc(theirs, func(p Proposal) bool { return overlaps(o, p) }) {
				t.Errorf("modern proposal %s matches none of strongSwan's %s", o, FormatProposals(theirs))
			}
		}
	}
	check(ModernIKEProposals(), ssIKE)
	check(ModernESPProposals(), ssESP)
	// And the check can fail: AES-CBC-128/SHA1 only is not covered.
	other, _ := ParseProposals("aes128-sha1-modp2048", false)
	if overlaps(ModernIKEProposals()[1], other[0]) {
		t.Error("overlaps reports a match for disjoint proposals")
	}
}

// overlaps reports whether a and b have a common choice for every
// transform type, with DH optional when one side lists NONE or nothing.
func overlaps(a, b Proposal) bool {
	common := func(x, y []ID, optional bool) bool {
		if len(x) == 0 && len(y) == 0 {
			return true
		}
		for _, i := range x {
			for _, j := range y {
				if i == j {
					return true
				}
			}
		}
		if optional {
			for _, s := range [][]ID{x, y} {
				if len(s) == 0 {
					return true
				}
			}
		}
		return false
	}
	encr := false
	for _, e := range a.Encr {
		for _, f := range b.Encr {
			encr = encr || e == f
		}
	}
	esp := len(a.ESN) > 0
	return encr && common(a.Integ, b.Integ, false) && common(a.PRF, b.PRF, false) &&
		common(a.DH, b.DH, esp) && common(a.ESN, b.ESN, false)
}
