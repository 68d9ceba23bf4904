package transform

import (
	"crypto/ecdh"
	crand "crypto/rand"
	"crypto/subtle"
	"fmt"
	"io"
	"math/big"
	"sync"
)

// NewDH generates a fresh private key in Diffie-Hellman group and returns
// it with its public value. Supported: the MODP groups 1, 2 (RFC 2409),
// 5, 14, 15, 16 (RFC 3526) and 24 (RFC 5114 §2.3), the ECP groups 19, 20,
// 21 (RFC 5903) and Curve25519 (group 31, RFC 8031). rand supplies the
// private key; nil means crypto/rand.Reader.
//
// The MODP groups use math/big, whose modular exponentiation is not
// constant-time; the ECP groups and Curve25519 use crypto/ecdh.
func NewDH(group ID, rand io.Reader) (DH, error) {
	if rand == nil {
		rand = crand.Reader
	}
	if g, ok := modpGroups[group]; ok {
		x, err := g.randomExponent(rand)
		if err != nil {
			return nil, err
		}
		return g.newKey(x), nil
	}
	curve, coord, ok := ecdhCurve(group)
	if !ok {
		return nil, fmt.Errorf("%w: DH group %s", ErrUnsupported, Name(TypeDH, group))
	}
	scalar := make([]byte, coord)
	for range 64 {
		if _, err := io.ReadFull(rand, scalar); err != nil {
			return nil, fmt.Errorf("transform: generating %s private key: %w", Name(TypeDH, group), err)
		}
		if group == DHECP521 {
			scalar[0] &= 0x01 // 521 bits in 66 bytes
		}
		// NewPrivateKey rejects zero and scalars not below the group
		// order; retrying makes the accepted scalar uniform.
		if priv, err := curve.NewPrivateKey(scalar); err == nil {
			return newECDHKey(group, priv), nil
		}
	}
	return nil, fmt.Errorf("transform: generating %s private key: random source produced no valid scalar", Name(TypeDH, group))
}

// newDHFromPrivate builds a DH from a given private value: the exponent
// for MODP groups, the scalar for ECP groups and Curve25519. For
// deterministic tests with published vectors.
func newDHFromPrivate(group ID, priv []byte) (DH, error) {
	if g, ok := modpGroups[group]; ok {
		return g.newKey(new(big.Int).SetBytes(priv)), nil
	}
	curve, _, ok := ecdhCurve(group)
	if !ok {
		return nil, fmt.Errorf("%w: DH group %s", ErrUnsupported, Name(TypeDH, group))
	}
	k, err := curve.NewPrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("transform: %s private key: %w", Name(TypeDH, group), err)
	}
	return newECDHKey(group, k), nil
}

// DHPublicLen returns the length of group's public value in the KE payload
// (and of its shared secret for MODP groups): the prime's length for MODP
// groups, twice the coordinate length for ECP groups, 32 for Curve25519.
func DHPublicLen(group ID) (int, error) {
	if g, ok := modpGroups[group]; ok {
		return g.size, nil
	}
	if _, coord, ok := ecdhCurve(group); ok {
		if group == DHCurve25519 {
			return coord, nil
		}
		return 2 * coord, nil
	}
	return 0, fmt.Errorf("%w: DH group %s", ErrUnsupported, Name(TypeDH, group))
}

// ecdhCurve returns the crypto/ecdh curve of an elliptic curve group and
// its coordinate (and scalar) length in bytes.
func ecdhCurve(group ID) (ecdh.Curve, int, bool) {
	switch group {
	case DHECP256:
		return ecdh.P256(), 32, true
	case DHECP384:
		return ecdh.P384(), 48, true
	case DHECP521:
		return ecdh.P521(), 66, true
	case DHCurve25519:
		return ecdh.X25519(), 32, true
	}
	return nil, 0, false
}

// modpGroup is a finite-field Diffie-Hellman group.
type modpGroup struct {
	id      ID
	p, g    *big.Int
	q       *big.Int // prime order of g's subgroup; nil for safe primes
	pMinus1 *big.Int
	size    int // length of p in bytes
	// expBits is the private exponent length for safe-prime groups:
	// about twice the group's security strength estimated in RFC 3526 §8.
	expBits int
	// powers is the fixed-base table for g^x (built on first use).
	powersOnce sync.Once
	powers     [][]*big.Int
}

// modpGroups holds the immutable parameters of the supported MODP groups.
var modpGroups = map[ID]*modpGroup{
	DHMODP768:      newMODPGroup(DHMODP768, modp768P, "2", "", 256),
	DHMODP1024:     newMODPGroup(DHMODP1024, modp1024P, "2", "", 256),
	DHMODP1536:     newMODPGroup(DHMODP1536, modp1536P, "2", "", 256),
	DHMODP2048:     newMODPGroup(DHMODP2048, modp2048P, "2", "", 384),
	DHMODP3072:     newMODPGroup(DHMODP3072, modp3072P, "2", "", 384),
	DHMODP4096:     newMODPGroup(DHMODP4096, modp4096P, "2", "", 512),
	DHMODP2048S256: newMODPGroup(DHMODP2048S256, g24P, g24G, g24Q, 0),
}

func newMODPGroup(id ID, p, g, q string, expBits int) *modpGroup {
	parse := func(s string) *big.Int {
		v, ok := new(big.Int).SetString(s, 16)
		if !ok {
			panic("transform: bad MODP constant for group " + Name(TypeDH, id))
		}
		return v
	}
	grp := &modpGroup{id: id, p: parse(p), g: parse(g), expBits: expBits}
	if q != "" {
		grp.q = parse(q)
	}
	grp.pMinus1 = new(big.Int).Sub(grp.p, big.NewInt(1))
	grp.size = (grp.p.BitLen() + 7) / 8
	return grp
}

// randomExponent draws a private exponent: uniform in [1, q-1] for groups
// with a prime-order subgroup, expBits random bits (at least 2) otherwise.
func (g *modpGroup) randomExponent(rand io.Reader) (*big.Int, error) {
	n := (g.expBits + 7) / 8
	if g.q != nil {
		n = (g.q.BitLen() + 7) / 8
	}
	buf := make([]byte, n)
	x := new(big.Int)
	for range 64 {
		if _, err := io.ReadFull(rand, buf); err != nil {
			return nil, fmt.Errorf("transform: generating %s private key: %w", Name(TypeDH, g.id), err)
		}
		x.SetBytes(buf)
		if g.q != nil {
			if x.Sign() > 0 && x.Cmp(g.q) < 0 {
				return x, nil
			}
			continue
		}
		if x.Cmp(big.NewInt(1)) > 0 {
			return x, nil
		}
	}
	return nil, fmt.Errorf("transform: generating %s private key: random source produced no valid exponent", Name(TypeDH, g.id))
}

func (g *modpGroup) newKey(x *big.Int) *modpKey {
	return &modpKey{group: g, x: x, pub: g.powG(x).FillBytes(make([]byte, g.size))}
}

// fixedWindow is the width in bits of the fixed-base table's windows.
const fixedWindow = 4

// exponentBits is the length of the private exponents randomExponent
// draws.
func (g *modpGroup) exponentBits() int {
	if g.q != nil {
		return g.q.BitLen()
	}
	return g.expBits
}

// powG is g^x mod p. For exponents as long as randomExponent draws it
// looks up g^(d·16^i) in a table built once per group (about 400 KB for
// MODP-2048) and multiplies one entry per 4 bits of x: about a quarter of
// the time of big.Int.Exp, which squares once per bit. Longer exponents
// (test vectors) take Exp. Like Exp, not constant-time.
func (g *modpGroup) powG(x *big.Int) *big.Int {
	bits := g.exponentBits()
	if x.Sign() <= 0 || x.BitLen() > bits {
		return new(big.Int).Exp(g.g, x, g.p)
	}
	g.powersOnce.Do(g.buildPowers)
	z := big.NewInt(1)
	var t, q big.Int
	for i, row := range g.powers {
		d := 0
		for k := range fixedWindow {
			d |= int(x.Bit(i*fixedWindow+k)) << k
		}
		if d != 0 {
			t.Mul(z, row[d-1])
			q.QuoRem(&t, g.p, z)
		}
	}
	return z
}

// buildPowers fills powers[i][d-1] = g^(d·2^(4i)) mod p for d in 1..15.
func (g *modpGroup) buildPowers() {
	n := (g.exponentBits() + fixedWindow - 1) / fixedWindow
	g.powers = make([][]*big.Int, n)
	base := new(big.Int).Set(g.g)
	for i := range g.powers {
		row := make([]*big.Int, 1<<fixedWindow-1)
		row[0] = new(big.Int).Set(base)
		for d := 1; d < len(row); d++ {
			row[d] = new(big.Int).Mul(row[d-1], base)
			row[d].Mod(row[d], g.p)
		}
		base = new(big.Int).Mul(row[len(row)-1], base) // g^(16·16^i)
		base.Mod(base, g.p)
		g.powers[i] = row
	}
}

// check validates a peer's public value (see modpKey.Shared) and returns
// it as a number.
func (g *modpGroup) check(peerPublic []byte) (*big.Int, error) {
	if len(peerPublic) != g.size {
		return nil, fmt.Errorf("%w: %s public value is %d bytes, want %d",
			ErrInvalidPublic, Name(TypeDH, g.id), len(peerPublic), g.size)
	}
	one := big.NewInt(1)
	y := new(big.Int).SetBytes(peerPublic)
	if y.Cmp(one) <= 0 || y.Cmp(g.pMinus1) >= 0 {
		return nil, fmt.Errorf("%w: %s public value out of range", ErrInvalidPublic, Name(TypeDH, g.id))
	}
	if g.q != nil && new(big.Int).Exp(y, g.q, g.p).Cmp(one) != 0 {
		return nil, fmt.Errorf("%w: %s public value not in the prime-order subgroup", ErrInvalidPublic, Name(TypeDH, g.id))
	}
	return y, nil
}

// CheckPublic validates a peer's public value of group as Shared does
// (length and range, subgroup membership, the point on the curve)
// without the exchange itself: a responder can refuse a bad KE payload
// before it answers, and compute the shared secret after. Shared may
// still refuse a degenerate result (an all-zero X25519 output).
func CheckPublic(group ID, peerPublic []byte) error {
	if g, ok := modpGroups[group]; ok {
		_, err := g.check(peerPublic)
		return err
	}
	curve, coord, ok := ecdhCurve(group)
	if !ok {
		return fmt.Errorf("%w: DH group %s", ErrUnsupported, Name(TypeDH, group))
	}
	_, err := ecdhPublic(group, curve, coord, peerPublic)
	return err
}

// ecdhPublic parses a peer's KE value of an ECP group or Curve25519
// (crypto/ecdh checks that the point is on the curve and not the
// identity).
func ecdhPublic(group ID, curve ecdh.Curve, coord int, peerPublic []byte) (*ecdh.PublicKey, error) {
	want := coord
	if group != DHCurve25519 {
		want = 2 * coord
	}
	if len(peerPublic) != want {
		return nil, fmt.Errorf("%w: %s public value is %d bytes, want %d",
			ErrInvalidPublic, Name(TypeDH, group), len(peerPublic), want)
	}
	enc := peerPublic
	if group != DHCurve25519 {
		enc = make([]byte, 1+len(peerPublic))
		enc[0] = 0x04
		copy(enc[1:], peerPublic)
	}
	pk, err := curve.NewPublicKey(enc)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalidPublic, Name(TypeDH, group), err)
	}
	return pk, nil
}

// modpKey is one side of a MODP exchange.
type modpKey struct {
	group *modpGroup
	x     *big.Int // private exponent
	pub   []byte   // g^x mod p, left-padded to the prime's length
}

func (k *modpKey) Group() ID      { return k.group.id }
func (k *modpKey) Public() []byte { return append([]byte(nil), k.pub...) }

// Shared checks the peer's value (RFC 7296 §2.12 and NIST SP 800-56A
// §5.6.2.3: 1 < y < p-1, and y^q = 1 for a prime-order subgroup) and
// returns y^x mod p left-padded to the prime's length (RFC 7296 §2.14).
func (k *modpKey) Shared(peerPublic []byte) ([]byte, error) {
	g := k.group
	y, err := g.check(peerPublic)
	if err != nil {
		return nil, err
	}
	one := big.NewInt(1)
	z := new(big.Int).Exp(y, k.x, g.p)
	if z.Cmp(one) <= 0 {
		return nil, fmt.Errorf("%w: %s shared secret is degenerate", ErrInvalidPublic, Name(TypeDH, g.id))
	}
	return z.FillBytes(make([]byte, g.size)), nil
}

// ecdhKey is one side of an ECP (RFC 5903) or Curve25519 (RFC 8031)
// exchange.
type ecdhKey struct {
	group ID
	priv  *ecdh.PrivateKey
	pub   []byte // KE payload encoding
}

func newECDHKey(group ID, priv *ecdh.PrivateKey) *ecdhKey {
	pub := priv.PublicKey().Bytes()
	if group != DHCurve25519 {
		pub = pub[1:] // RFC 5903 §7: x ‖ y without the SEC1 0x04 prefix
	}
	return &ecdhKey{group: group, priv: priv, pub: pub}
}

func (k *ecdhKey) Group() ID      { return k.group }
func (k *ecdhKey) Public() []byte { return append([]byte(nil), k.pub...) }

// Shared validates the peer's point (on the curve, not the identity;
// crypto/ecdh checks this) and returns the x coordinate of the shared
// point (RFC 5903 §7) or the X25519 output (RFC 8031 §2.1), rejecting an
// all-zero X25519 result (RFC 8031 §2.3).
func (k *ecdhKey) Shared(peerPublic []byte) ([]byte, error) {
	curve, coord, _ := ecdhCurve(k.group)
	pk, err := ecdhPublic(k.group, curve, coord, peerPublic)
	if err != nil {
		return nil, err
	}
	z, err := k.priv.ECDH(pk)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalidPublic, Name(TypeDH, k.group), err)
	}
	if subtle.ConstantTimeCompare(z, make([]byte, len(z))) == 1 {
		return nil, fmt.Errorf("%w: %s shared secret is all zero", ErrInvalidPublic, Name(TypeDH, k.group))
	}
	return z, nil
}
