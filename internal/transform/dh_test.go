package transform

import (
	"bytes"
	"crypto/rand"
	"errors"
	"math/big"
	"os/exec"
	"strings"
	"testing"
)

// RFC 5903 §8: for each ECP group, i and r are the private keys, g^i and
// g^r the public values (x ‖ y in the KE payload) and g^ir the shared
// secret (its x coordinate).
var rfc5903Vectors = []struct {
	group                       ID
	i, gix, giy, r, grx, gry, z string
}{
	{
		group: DHECP256,
		i:     "c88f01f510d9ac3f70a292daa2316de544e9aab8afe84049c62a9c57862d1433",
		gix:   "dad0b65394221cf9b051e1feca5787d098dfe637fc90b9ef945d0c3772581180",
		giy:   "5271a0461cdb8252d61f1c456fa3e59ab1f45b33accf5f58389e0577b8990bb3",
		r:     "c6ef9c5d78ae012a011164acb397ce2088685d8f06bf9be0b283ab46476bee53",
		grx:   "d12dfb5289c8d4f81208b70270398c342296970a0bccb74c736fc7554494bf63",
		gry:   "56fbf3ca366cc23e8157854c13c58d6aac23f046ada30f8353e74f33039872ab",
		z:     "d6840f6b42f6edafd13116e0e12565202fef8e9ece7dce03812464d04b9442de",
	},
	{
		group: DHECP384,
		i:     "099f3c7034d4a2c699884d73a375a67f7624ef7c6b3c0f160647b67414dce655e35b538041e649ee3faef896783ab194",
		gix:   "667842d7d180ac2cde6f74f37551f55755c7645c20ef73e31634fe72b4c55ee6de3ac808acb4bdb4c88732aee95f41aa",
		giy:   "9482ed1fc0eeb9cafc4984625ccfc23f65032149e0e144ada024181535a0f38eeb9fcff3c2c947dae69b4c634573a81c",
		r:     "41cb0779b4bdb85d47846725fbec3c9430fab46cc8dc5060855cc9bda0aa2942e0308312916b8ed2960e4bd55a7448fc",
		grx:   "e558dbef53eecde3d3fccfc1aea08a89a987475d12fd950d83cfa41732bc509d0d1ac43a0336def96fda41d0774a3571",
		gry:   "dcfbec7aacf3196472169e838430367f66eebe3c6e70c416dd5f0c68759dd1fff83fa40142209dff5eaad96db9e6386c",
		z:     "11187331c279962d93d604243fd592cb9d0a926f422e47187521287e7156c5c4d603135569b9e9d09cf5d4a270f59746",
	},
	{
		group: DHECP521,
		i:     "0037ade9319a89f4dabdb3ef411aaccca5123c61acab57b5393dce47608172a095aa85a30fe1c2952c6771d937ba9777f5957b2639bab072462f68c27a57382d4a52",
		gix:   "0015417e84dbf28c0ad3c278713349dc7df153c897a1891bd98bab4357c9ecbee1e3bf42e00b8e380aeae57c2d107564941885942af5a7f4601723c4195d176ced3e",
		giy:   "017cae20b6641d2eeb695786d8c946146239d099e18e1d5a514c739d7cb4a10ad8a788015ac405d7799dc75e7b7d5b6cf2261a6a7f1507438bf01beb6ca3926f9582",
		r:     "0145ba99a847af43793fdd0e872e7cdfa16be30fdc780f97bccc3f078380201e9c677d600b343757a3bdbf2a3163e4c2f869cca7458aa4a4effc311f5cb151685eb9",
		grx:   "00d0b3975ac4b799f5bea16d5e13e9af971d5e9b984c9f39728b5e5739735a219b97c356436adc6e95bb0352f6be64a6c2912d4ef2d0433ced2b6171640012d9460f",
		gry:   "015c68226383956e3bd066e797b623c27ce0eac2f551a10c2c724d9852077b87220b6536c5c408a1d2aebb8e86d678ae49cb57091f4732296579ab44fcd17f0fc56a",
		z:     "01144c7d79ae6956bc8edb8e7c787c4521cb086fa64407f97894e5e6b2d79b04d1427e73ca4baa240a34786859810c06b3c715a3a8cc3151f2bee417996d19f3ddea",
	},
}

func TestECPVectors(t *testing.T) {
	for _, v := range rfc5903Vectors {
		t.Run(Name(TypeDH, v.group), func(t *testing.T) {
			i, err := newDHFromPrivate(v.group, unhex(t, v.i))
			if err != nil {
				t.Fatal(err)
			}
			r, err := newDHFromPrivate(v.group, unhex(t, v.r))
			if err != nil {
				t.Fatal(err)
			}
			gi, gr := unhex(t, v.gix+v.giy), unhex(t, v.grx+v.gry)
			if !bytes.Equal(i.Public(), gi) {
				t.Errorf("g^i = %x\nwant  %x", i.Public(), gi)
			}
			if !bytes.Equal(r.Public(), gr) {
				t.Errorf("g^r = %x\nwant  %x", r.Public(), gr)
			}
			for _, side := range []struct {
				dh   DH
				peer []byte
			}{{i, gr}, {r, gi}} {
				z, err := side.dh.Shared(side.peer)
				if err != nil || !bytes.Equal(z, unhex(t, v.z)) {
					t.Errorf("g^ir = %x, %v\nwant   %s", z, err, v.z)
				}
			}
			if n, _ := DHPublicLen(v.group); n != len(gi) {
				t.Errorf("DHPublicLen = %d, want %d", n, len(gi))
			}
		})
	}
}

// RFC 5114 Appendix A.3: the 2048-bit MODP group with 256-bit prime order
// subgroup (IKE group 24), xA/xB private, yA/yB public, Z shared.
func TestMODP2048S256Vector(t *testing.T) {
	xA := unhex(t, "0881382cdb87660c6dc13e614938d5b9c8b2f248581cc5e31b35454397fce50e")
	xB := unhex(t, "7d62a7e3ef36de617b13d1afb82c780d83a23bd4ee6705645121f371f546a53d")
	yA := unhex(t, "2e9380c8323af97545bc4941deb0ec3742c62fe0ece824a6abdbe66c59bee024"+
		"2911bfb967235ceba35ae13e4ec752be630b92dc4bde2847a9c62cb815274542"+
		"1fb7eb60a63c0fe9159fcce726ce7cd8523d7450667ef840e4919121eb5f01c8"+
		"c9b0d3d648a93bfb75689e8244ac134af544711ce79a02dcc34226684780dddc"+
		"b498594106c37f5bc79856487af5ab022a2e5e42f09897c1a85a11ea0212af04"+
		"d9b4cebc937c3c1a3e15a8a0342e337615c84e7fe3b8b9b87fb1e73a15af12a3"+
		"0d746e06dfc34f290d797ce51aa13aa785bf6658aff5e4b093003cbeaf665b3c"+
		"2e113a3a4e905269341dc0711426685f4ef37e868a8126ff3f2279b57ca67e29")
	yB := unhex(t, "575f0351bd2b1b817448bdf87a6c362c1e289d3903a30b9832c5741fa250363e"+
		"7acbc7f77f3dacbc1f131add8e03367eff8fbbb3e1c5784424809b25afe4d226"+
		"2a1a6fd2fab64105ca30a674e07f7809852088632fc049233791ad4edd083a97"+
		"8b883ee618bc5e0dd047415f2d95e683cf14826b5fbe10d3ce41c6c120c78ab2"+
		"0008c698bf7f0bcab9d7f407bed0f43afb2970f57f8d12043963e66ddd320d59"+
		"9ad9936c8f44137c08b180ec5e985cebe186f3d549677e80607331ee17af3380"+
		"a725b0782317d7dd43f59d7af9568a9bb63a84d365f92244ed120988219302f4"+
		"2924c7ca90b89d24f71b0ab697823d7deb1aff5b0e8e4a45d49f7f53757e1913")
	z := unhex(t, "86c70bf8d0bb81bb01078a17219cb7d27203db2a19c877f1d1f19fd7d77ef225"+
		"46a68f005ad52dc84553b78fc60330be51ea7c0672cac1515e4b35c047b9a551"+
		"b88f39dc26da14a09ef74774d47c762dd177f9ed5bc2f11e52c879bd95098504"+
		"cd9eecd8a8f9b3efbd1f008ac5853097d9d1837f2b18f77cd7be01af80a7c7b5"+
		"ea3ca54cc02d0c116fee3f95bb87399385875d7e86747e676e728938acbff709"+
		"8e05be4dcfb24052b83aeffb14783f029adbde7f53fae92084224090e007cee9"+
		"4d4bf2bace9ffd4b57d2af7c724d0caa19bf0501f6f17b4aa10f425e3ea76080"+
		"b4b9d6b3cefea115b2ceb8789bb8a3b0ea87febe63b6c8f846ec6db0c26c5d7c")
	a, _ := newDHFromPrivate(DHMODP2048S256, xA)
	b, _ := newDHFromPrivate(DHMODP2048S256, xB)
	if !bytes.Equal(a.Public(), yA) || !bytes.Equal(b.Public(), yB) {
		t.Fatalf("public values differ from RFC 5114:\n%x\n%x", a.Public(), b.Public())
	}
	for _, s := range []struct {
		dh   DH
		peer []byte
	}{{a, yB}, {b, yA}} {
		got, err := s.dh.Shared(s.peer)
		if err != nil || !bytes.Equal(got, z) {
			t.Errorf("Z = %x, %v", got, err)
		}
	}
}

// RFC 7748 §6.1 (X25519, IKE group 31 per RFC 8031).
func TestCurve25519Vector(t *testing.T) {
	a, err := newDHFromPrivate(DHCurve25519, unhex(t, "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := newDHFromPrivate(DHCurve25519, unhex(t, "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"))
	pa := unhex(t, "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
	pb := unhex(t, "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
	if !bytes.Equal(a.Public(), pa) || !bytes.Equal(b.Public(), pb) {
		t.Fatalf("public values differ from RFC 7748: %x %x", a.Public(), b.Public())
	}
	want := unhex(t, "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")
	for _, s := range []struct {
		dh   DH
		peer []byte
	}{{a, pb}, {b, pa}} {
		if got, err := s.dh.Shared(s.peer); err != nil || !bytes.Equal(got, want) {
			t.Errorf("shared = %x, %v", got, err)
		}
	}
}

var allGroups = []ID{DHMODP768, DHMODP1024, DHMODP1536, DHMODP2048, DHMODP3072, DHMODP4096,
	DHMODP2048S256, DHECP256, DHECP384, DHECP521, DHCurve25519}

// TestFixedBasePowers checks the fixed-base table against big.Int.Exp for
// every MODP group, with exponents of the drawn length, edge values and
// one too long for the table.
func TestFixedBasePowers(t *testing.T) {
	for id, g := range modpGroups {
		bits := g.exponentBits()
		xs := []*big.Int{big.NewInt(1), big.NewInt(2), big.NewInt(15), big.NewInt(16),
			new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), uint(bits)), big.NewInt(1)), // all ones
			new(big.Int).Lsh(big.NewInt(1), uint(bits)),                                  // one bit too long: Exp
		}
		for range 8 {
			x, err := g.randomExponent(rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			xs = append(xs, x)
		}
		for _, x := range xs {
			if got, want := g.powG(x), new(big.Int).Exp(g.g, x, g.p); got.Cmp(want) != 0 {
				t.Fatalf("%s: g^%x differs from Exp", Name(TypeDH, id), x)
			}
		}
	}
}

func TestDHAgreement(t *testing.T) {
	for _, g := range allGroups {
		t.Run(Name(TypeDH, g), func(t *testing.T) {
			a, err := NewDH(g, nil)
			if err != nil {
				t.Fatal(err)
			}
			b, err := NewDH(g, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			n, _ := DHPublicLen(g)
			if a.Group() != g || len(a.Public()) != n || len(b.Public()) != n {
				t.Fatalf("Group/len(Public) = %v/%d, want %v/%d", a.Group(), len(a.Public()), g, n)
			}
			if bytes.Equal(a.Public(), b.Public()) {
				t.Fatal("two fresh keys have the same public value")
			}
			za, err := a.Shared(b.Public())
			if err != nil {
				t.Fatal(err)
			}
			zb, err := b.Shared(a.Public())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(za, zb) || len(za) == 0 {
				t.Fatalf("sides disagree: %x vs %x", za, zb)
			}
			if _, ok := modpGroups[g]; ok && len(za) != n {
				t.Errorf("MODP shared secret is %d bytes, want the prime's %d", len(za), n)
			}
			// Public returns a copy.
			p := a.Public()
			p[0] ^= 1
			if bytes.Equal(p, a.Public()) {
				t.Error("Public exposes internal state")
			}
		})
	}
}

// NewDH draws the private key from the given reader.
func TestNewDHUsesRand(t *testing.T) {
	for _, g := range allGroups {
		src := bytes.Repeat([]byte{0x5a, 0x01, 0xc3, 0x7e}, 64)
		a, err := NewDH(g, bytes.NewReader(src))
		if err != nil {
			t.Fatalf("%s: %v", Name(TypeDH, g), err)
		}
		b, _ := NewDH(g, bytes.NewReader(src))
		if !bytes.Equal(a.Public(), b.Public()) {
			t.Errorf("%s: same random input, different keys", Name(TypeDH, g))
		}
		if _, err := NewDH(g, bytes.NewReader(nil)); err == nil {
			t.Errorf("%s: empty random source accepted", Name(TypeDH, g))
		}
	}
}

func TestDHInvalidPublic(t *testing.T) {
	big1 := func(g ID, v *big.Int) []byte {
		return v.FillBytes(make([]byte, modpGroups[g].size))
	}
	type bad struct {
		name string
		peer []byte
	}
	cases := map[ID][]bad{}
	for _, g := range []ID{DHMODP768, DHMODP2048, DHMODP2048S256} {
		p := modpGroups[g].p
		cases[g] = []bad{
			{"0", big1(g, big.NewInt(0))},
			{"1", big1(g, big.NewInt(1))},
			{"p-1", big1(g, new(big.Int).Sub(p, big.NewInt(1)))},
			{"p", big1(g, p)},
			{"all ones", bytes.Repeat([]byte{0xff}, modpGroups[g].size)},
			{"short", make([]byte, modpGroups[g].size-1)},
			{"long", append([]byte{0}, big1(g, big.NewInt(5))...)},
		}
	}
	// 2 is a valid element mod p but not in group 24's subgroup of order q.
	cases[DHMODP2048S256] = append(cases[DHMODP2048S256], bad{"outside subgroup", big1(DHMODP2048S256, big.NewInt(2))})
	v := rfc5903Vectors[0]
	gi := unhex(t, v.gix+v.giy)
	offCurve := append([]byte(nil), gi...)
	offCurve[len(offCurve)-1] ^= 1
	cases[DHECP256] = []bad{
		{"off curve", offCurve},
		{"zero", make([]byte, 64)},
		{"short", gi[:63]},
		{"with 0x04 prefix", append([]byte{4}, gi...)},
		{"x too large", append(bytes.Repeat([]byte{0xff}, 32), gi[32:]...)},
	}
	cases[DHCurve25519] = []bad{
		{"zero (low order)", make([]byte, 32)},
		{"one (low order)", append([]byte{1}, make([]byte, 31)...)},
		{"short", make([]byte, 31)},
	}
	for g, list := range cases {
		k, err := NewDH(g, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range list {
			if z, err := k.Shared(c.peer); !errors.Is(err, ErrInvalidPublic) {
				t.Errorf("%s %s: Shared = %x, %v; want ErrInvalidPublic", Name(TypeDH, g), c.name, z, err)
			}
			// CheckPublic refuses the same before any exchange, except
			// X25519's low-order points: only the all-zero result of
			// Shared shows them.
			lowOrder := g == DHCurve25519 && c.name != "short"
			if err := CheckPublic(g, c.peer); lowOrder != (err == nil) || (err != nil && !errors.Is(err, ErrInvalidPublic)) {
				t.Errorf("%s %s: CheckPublic = %v", Name(TypeDH, g), c.name, err)
			}
		}
		if err := CheckPublic(g, k.Public()); err != nil {
			t.Errorf("%s: CheckPublic(a valid value) = %v", Name(TypeDH, g), err)
		}
	}
}

func TestDHUnsupported(t *testing.T) {
	for _, g := range []ID{DHNone, 17 /* MODP_6144 */, 22, 23, 25, 26, 32 /* Curve448 */} {
		if _, err := NewDH(g, nil); !errors.Is(err, ErrUnsupported) {
			t.Errorf("NewDH(%d): %v, want ErrUnsupported", g, err)
		}
		if _, err := DHPublicLen(g); !errors.Is(err, ErrUnsupported) {
			t.Errorf("DHPublicLen(%d): %v, want ErrUnsupported", g, err)
		}
	}
}

// piBits returns ⌊π·2^bits⌋, computed with Machin's formula
// π = 16·arctan(1/5) − 4·arctan(1/239) in fixed point.
func piBits(bits uint) *big.Int {
	const guard = 64
	arctanInv := func(x int64) *big.Int {
		one := new(big.Int).Lsh(big.NewInt(1), bits+guard)
		x2 := big.NewInt(x * x)
		term := new(big.Int).Quo(one, big.NewInt(x))
		sum := new(big.Int).Set(term)
		for n := int64(1); term.Sign() != 0; n++ {
			term.Quo(term, x2)
			t := new(big.Int).Quo(term, big.NewInt(2*n+1))
			if n%2 == 1 {
				sum.Sub(sum, t)
			} else {
				sum.Add(sum, t)
			}
		}
		return sum
	}
	a := new(big.Int).Mul(arctanInv(5), big.NewInt(16))
	a.Sub(a, new(big.Int).Mul(arctanInv(239), big.NewInt(4)))
	return a.Rsh(a, guard)
}

// The Oakley primes are defined (RFC 2409 §6, RFC 3526) as
// p = 2^n − 2^(n−64) − 1 + 2^64·(⌊2^(n−130)·π⌋ + k); recompute them from π
// and compare with the constants, and check they are prime.
func TestMODPPrimesFromPi(t *testing.T) {
	cases := []struct {
		group ID
		n     uint
		k     int64
	}{
		{DHMODP768, 768, 149686},
		{DHMODP1024, 1024, 129093},
		{DHMODP1536, 1536, 741804},
		{DHMODP2048, 2048, 124476},
		{DHMODP3072, 3072, 1690314},
		{DHMODP4096, 4096, 240904},
	}
	for _, c := range cases {
		p := new(big.Int).Lsh(big.NewInt(1), c.n)
		p.Sub(p, new(big.Int).Lsh(big.NewInt(1), c.n-64))
		p.Sub(p, big.NewInt(1))
		f := piBits(c.n - 130)
		f.Add(f, big.NewInt(c.k))
		p.Add(p, f.Lsh(f, 64))
		g := modpGroups[c.group]
		if g.p.Cmp(p) != 0 {
			t.Errorf("%s: prime differs from the RFC formula", Name(TypeDH, c.group))
		}
		if g.g.Cmp(big.NewInt(2)) != 0 || g.size*8 != int(c.n) || !g.p.ProbablyPrime(8) {
			t.Errorf("%s: generator %v, size %d, prime %v", Name(TypeDH, c.group), g.g, g.size, g.p.ProbablyPrime(8))
		}
	}
}

// Group 24's structure: p and q prime, q divides p−1, g has order q.
func TestMODP2048S256Parameters(t *testing.T) {
	g := modpGroups[DHMODP2048S256]
	if !g.p.ProbablyPrime(16) || !g.q.ProbablyPrime(16) {
		t.Fatal("p or q not prime")
	}
	if g.p.BitLen() != 2048 || g.q.BitLen() != 256 {
		t.Fatalf("bit lengths %d/%d", g.p.BitLen(), g.q.BitLen())
	}
	if new(big.Int).Mod(g.pMinus1, g.q).Sign() != 0 {
		t.Fatal("q does not divide p-1")
	}
	if g.g.Cmp(big.NewInt(1)) <= 0 || new(big.Int).Exp(g.g, g.q, g.p).Cmp(big.NewInt(1)) != 0 {
		t.Fatal("g does not generate the subgroup of order q")
	}
}

// Cross-check the group parameters with OpenSSL's built-in copies of
// RFC 3526 and RFC 5114, when openssl(1) is available.
func TestMODPParametersAgainstOpenSSL(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not available")
	}
	// asn1parse prints the DER integers of the DH parameters: p, g (and
	// for X9.42 "DHX" parameters p, g, q).
	params := func(args ...string) []string {
		gen := exec.Command(openssl, append([]string{"genpkey", "-genparam"}, args...)...)
		pem, err := gen.Output()
		if err != nil {
			t.Skipf("openssl genpkey %v: %v", args, err)
		}
		parse := exec.Command(openssl, "asn1parse")
		parse.Stdin = bytes.NewReader(pem)
		out, err := parse.Output()
		if err != nil {
			t.Fatalf("openssl asn1parse: %v", err)
		}
		var ints []string
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, "INTEGER") {
				ints = append(ints, line[strings.LastIndex(line, ":")+1:])
			}
		}
		return ints
	}
	for name, g := range map[string]ID{"modp_1536": DHMODP1536, "modp_2048": DHMODP2048, "modp_3072": DHMODP3072, "modp_4096": DHMODP4096} {
		ints := params("-algorithm", "DH", "-pkeyopt", "group:"+name)
		if len(ints) < 2 || !strings.EqualFold(ints[0], modpGroups[g].p.Text(16)) || ints[1] != "02" {
			t.Errorf("%s differs from OpenSSL's %s", Name(TypeDH, g), name)
		}
	}
	ints := params("-algorithm", "DHX", "-pkeyopt", "dh_rfc5114:3")
	g := modpGroups[DHMODP2048S256]
	if len(ints) < 3 || !strings.EqualFold(ints[0], g.p.Text(16)) ||
		!strings.EqualFold(ints[1], g.g.Text(16)) || !strings.EqualFold(ints[2], g.q.Text(16)) {
		t.Errorf("group 24 differs from OpenSSL's RFC 5114 2048/256 parameters")
	}
}
