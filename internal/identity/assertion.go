package identity

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Certificate credentials: a service principal registered with a
// certificate signs in with the client-credentials grant and a client
// assertion (RFC 7523): a JWT it signs with the certificate's key, RS256
// or PS256 (what MSAL and azidentity send), whose iss and sub are its
// client ID, whose aud is the token endpoint and which expires within
// maxAssertionLife.

// AssertionType is the client_assertion_type of a JWT client assertion.
const AssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// maxAssertionLife bounds how far in the future an assertion may expire.
const maxAssertionLife = time.Hour

// ErrAssertion is wrapped by every refusal of a client assertion.
var ErrAssertion = errors.New("identity: client assertion refused")

// assertionClaims are the claims of a client assertion that are checked.
type assertionClaims struct {
	Issuer    string          `json:"iss"`
	Subject   string          `json:"sub"`
	Audience  json.RawMessage `json:"aud"`
	Expiry    int64           `json:"exp"`
	NotBefore int64           `json:"nbf"`
}

// ParseCertificate reads the first PEM certificate of b; its key must be
// RSA (what azidentity's certificate credential signs with).
func ParseCertificate(b []byte) (*x509.Certificate, error) {
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return nil, errors.New("identity: no PEM certificate")
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("identity: %w", err)
		}
		if _, ok := c.PublicKey.(*rsa.PublicKey); !ok {
			return nil, errors.New("identity: the certificate's key must be RSA")
		}
		return c, nil
	}
}

// checkAssertion verifies a client assertion for clientID at the token
// endpoint tokenURL against the principal's certificate (PEM).
func checkAssertion(assertion, clientID, tokenURL string, certPEM string, now time.Time) error {
	if len(assertion) > maxTokenLen {
		return fmt.Errorf("%w: longer than %d bytes", ErrAssertion, maxTokenLen)
	}
	cert, err := ParseCertificate([]byte(certPEM))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrAssertion, err)
	}
	pub := cert.PublicKey.(*rsa.PublicKey)
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return fmt.Errorf("%w: want three dot-separated parts", ErrAssertion)
	}
	hb, err1 := b64.DecodeString(parts[0])
	pb, err2 := b64.DecodeString(parts[1])
	sig, err3 := b64.DecodeString(parts[2])
	if err := errors.Join(err1, err2, err3); err != nil {
		return fmt.Errorf("%w: not base64url", ErrAssertion)
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if err := json.Unmarshal(hb, &h); err != nil {
		return fmt.Errorf("%w: header: %v", ErrAssertion, err)
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	switch h.Alg {
	case "RS256":
		err = rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig)
	case "PS256":
		err = rsa.VerifyPSS(pub, crypto.SHA256, sum[:], sig, nil)
	default:
		return fmt.Errorf("%w: algorithm %q, want RS256 or PS256", ErrAssertion, h.Alg)
	}
	if err != nil {
		return fmt.Errorf("%w: bad signature", ErrAssertion)
	}
	var c assertionClaims
	if err := json.Unmarshal(pb, &c); err != nil {
		return fmt.Errorf("%w: payload: %v", ErrAssertion, err)
	}
	if !strings.EqualFold(c.Issuer, clientID) || !strings.EqualFold(c.Subject, clientID) {
		return fmt.Errorf("%w: iss and sub must be the client ID", ErrAssertion)
	}
	var auds []string
	if json.Unmarshal(c.Audience, &auds) != nil {
		var one string
		if json.Unmarshal(c.Audience, &one) != nil {
			return fmt.Errorf("%w: no aud", ErrAssertion)
		}
		auds = []string{one}
	}
	okAud := false
	for _, a := range auds {
		okAud = okAud || strings.EqualFold(strings.TrimRight(a, "/"), tokenURL)
	}
	if !okAud {
		return fmt.Errorf("%w: aud must be the token endpoint %s", ErrAssertion, tokenURL)
	}
	exp := time.Unix(c.Expiry, 0)
	if !now.Before(exp.Add(clockSkew)) || exp.After(now.Add(maxAssertionLife)) {
		return fmt.Errorf("%w: expired, or valid for more than %v", ErrAssertion, maxAssertionLife)
	}
	if c.NotBefore != 0 && now.Add(clockSkew).Before(time.Unix(c.NotBefore, 0)) {
		return fmt.Errorf("%w: not yet valid", ErrAssertion)
	}
	if now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
		return fmt.Errorf("%w: the registered certificate is not valid now", ErrAssertion)
	}
	return nil
}
