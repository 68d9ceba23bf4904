package identity

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// Claims are the claims of an access token vpngw issues, in the shape of
// AD FS and Microsoft Entra ID v1 access tokens.
type Claims struct {
	// Issuer is the authority, ENDPOINT/adfs.
	Issuer string `json:"iss"`
	// Audience is the resource the token is for: the ARM endpoint.
	Audience string `json:"aud"`
	// Subject and ObjectID name the principal (its object ID).
	Subject  string `json:"sub"`
	ObjectID string `json:"oid"`
	// AppID is a service principal's client ID.
	AppID string `json:"appid,omitempty"`
	// UPN is a user's name.
	UPN string `json:"upn,omitempty"`
	// TenantID is always "adfs".
	TenantID string `json:"tid"`
	// IDType is "app" or "user".
	IDType string `json:"idtyp"`
	// IssuedAt, NotBefore and Expiry are Unix seconds.
	IssuedAt  int64 `json:"iat"`
	NotBefore int64 `json:"nbf"`
	Expiry    int64 `json:"exp"`
	// Version is "1.0".
	Version string `json:"ver"`
}

// header is a JWS header.
type header struct {
	Alg string `json:"alg"`
	Typ string `json:"typ,omitempty"`
	Kid string `json:"kid"`
}

// Sentinel errors of parseToken; Authenticate maps them to ARM codes.
var (
	// ErrMalformed: not a compact JWS with our algorithm and key.
	ErrMalformed = errors.New("identity: malformed token")
	// ErrSignature: the signature does not verify.
	ErrSignature = errors.New("identity: bad token signature")
)

var b64 = base64.RawURLEncoding

// signToken returns the compact ES256 JWS of c under key (named kid).
func signToken(key *ecdsa.PrivateKey, kid string, c Claims) (string, error) {
	h, err := json.Marshal(header{Alg: "ES256", Typ: "JWT", Kid: kid})
	if err != nil {
		return "", err
	}
	p, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	signing := b64.EncodeToString(h) + "." + b64.EncodeToString(p)
	sum := sha256.Sum256([]byte(signing))
	r, s, err := ecdsa.Sign(rand.Reader, key, sum[:])
	if err != nil {
		return "", fmt.Errorf("identity: signing: %w", err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signing + "." + b64.EncodeToString(sig), nil
}

// maxTokenLen bounds what parseToken reads.
const maxTokenLen = 8 << 10

// parseToken checks a compact JWS's form and its ES256 signature under
// pub (named kid) and returns its claims; it does not check them.
func parseToken(tok string, pub *ecdsa.PublicKey, kid string) (Claims, error) {
	var c Claims
	if len(tok) > maxTokenLen {
		return c, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, maxTokenLen)
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return c, fmt.Errorf("%w: want three dot-separated parts", ErrMalformed)
	}
	hb, err := b64.DecodeString(parts[0])
	if err != nil {
		return c, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	var h header
	if err := json.Unmarshal(hb, &h); err != nil {
		return c, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	if h.Alg != "ES256" {
		return c, fmt.Errorf("%w: algorithm %q, want ES256", ErrMalformed, h.Alg)
	}
	if h.Kid != kid {
		return c, fmt.Errorf("%w: unknown signing key", ErrSignature)
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return c, fmt.Errorf("%w: signature is not 64 bytes of base64url", ErrMalformed)
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	if !ecdsa.Verify(pub, sum[:], r, s) {
		return c, ErrSignature
	}
	pb, err := b64.DecodeString(parts[1])
	if err != nil {
		return c, fmt.Errorf("%w: payload: %v", ErrMalformed, err)
	}
	if err := json.Unmarshal(pb, &c); err != nil {
		return c, fmt.Errorf("%w: payload: %v", ErrMalformed, err)
	}
	return c, nil
}
