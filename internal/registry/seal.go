package registry

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/vpngw/vpngw/internal/resource"
)

// ErrUnknownKey is returned for a record sealed with a key the keyring
// does not hold: the wrong key file, or a missing one.
var ErrUnknownKey = errors.New("registry: secrets sealed with a key the keyring does not hold")

// envelopeV1 is the only envelope version.
const envelopeV1 = "v1"

// envelope is the sealed form of a record's secrets.
type envelope struct {
	// Enc is the envelope version, envelopeV1.
	Enc string `json:"enc"`
	// KID is the ID of the Keyring key that sealed it.
	KID string `json:"kid"`
	// Nonce is the GCM nonce.
	Nonce []byte `json:"n"`
	// CT is the ciphertext with the GCM tag.
	CT []byte `json:"ct"`
}

// sealedRecord is record with its sealed secrets.
type sealedRecord struct {
	Op     string          `json:"op,omitempty"`
	Object json.RawMessage `json:"object"`
	Sealed *envelope       `json:"sealed,omitempty"`
}

// isRecordKey reports whether key holds a resource group or resource
// record, the values Sealed transforms.
func isRecordKey(key string) bool {
	return strings.HasPrefix(key, ResourceKeyPrefix) || strings.HasPrefix(key, GroupKeyPrefix)
}

// recordType is the resource type of the record at key.
func recordType(key string) (string, error) {
	if strings.HasPrefix(key, GroupKeyPrefix) {
		return resource.TypeResourceGroups, nil
	}
	seg, _, _ := strings.Cut(strings.TrimPrefix(key, ResourceKeyPrefix), "/")
	t, ok := resource.CanonicalType(seg)
	if !ok {
		return "", fmt.Errorf("registry: record %s: unknown type %q", key, seg)
	}
	return t, nil
}

func gcm(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("registry: secrets key is %d bytes, want %d", len(key), KeySize)
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// seal returns value, the stored record at key, with its secrets moved
// into a sealed envelope under kr's current key. A record with no secret
// set is returned unchanged; so is one already sealed.
func seal(kr Keyring, key string, value []byte) ([]byte, error) {
	var rec sealedRecord
	if err := json.Unmarshal(value, &rec); err != nil {
		return nil, fmt.Errorf("registry: seal %s: %w", key, err)
	}
	if rec.Sealed != nil {
		return value, nil
	}
	typ, err := recordType(key)
	if err != nil {
		return nil, err
	}
	obj, _ := resource.NewObject(typ)
	if err := json.Unmarshal(rec.Object, obj); err != nil {
		return nil, fmt.Errorf("registry: seal %s: %w", key, err)
	}
	ptrs := resource.Secrets(obj)
	vals := make([]string, len(ptrs))
	set := false
	for i, p := range ptrs {
		vals[i], *p = *p, ""
		set = set || vals[i] != ""
	}
	if !set {
		return value, nil
	}
	pt, err := json.Marshal(vals)
	if err != nil {
		return nil, err
	}
	kid, k := kr.Current()
	aead, err := gcm(k)
	if err != nil {
		return nil, err
	}
	env := &envelope{Enc: envelopeV1, KID: kid, Nonce: make([]byte, aead.NonceSize())}
	if _, err := rand.Read(env.Nonce); err != nil {
		return nil, err
	}
	env.CT = aead.Seal(nil, env.Nonce, pt, []byte(key))
	if rec.Object, err = json.Marshal(obj); err != nil {
		return nil, err
	}
	rec.Sealed = env
	return json.Marshal(rec)
}

// open returns value, the stored record at key, with its sealed secrets
// put back into the object: the form Encode writes and decode reads. A
// record without an envelope is returned unchanged.
func open(kr Keyring, key string, value []byte) ([]byte, error) {
	var rec sealedRecord
	if err := json.Unmarshal(value, &rec); err != nil {
		return nil, fmt.Errorf("registry: decode record %s: %w", key, err)
	}
	if rec.Sealed == nil {
		return value, nil
	}
	env := rec.Sealed
	if env.Enc != envelopeV1 {
		return nil, fmt.Errorf("registry: record %s: unknown envelope version %q", key, env.Enc)
	}
	k, ok := kr.Lookup(env.KID)
	if !ok {
		return nil, fmt.Errorf("%w: record %s, key %s", ErrUnknownKey, key, env.KID)
	}
	aead, err := gcm(k)
	if err != nil {
		return nil, err
	}
	if len(env.Nonce) != aead.NonceSize() {
		return nil, fmt.Errorf("registry: record %s: bad nonce", key)
	}
	pt, err := aead.Open(nil, env.Nonce, env.CT, []byte(key))
	if err != nil {
		return nil, fmt.Errorf("registry: record %s: secrets do not open with key %s: %w", key, env.KID, err)
	}
	var vals []string
	if err := json.Unmarshal(pt, &vals); err != nil {
		return nil, fmt.Errorf("registry: record %s: sealed secrets: %w", key, err)
	}
	typ, err := recordType(key)
	if err != nil {
		return nil, err
	}
	obj, _ := resource.NewObject(typ)
	if err := json.Unmarshal(rec.Object, obj); err != nil {
		return nil, fmt.Errorf("registry: decode object %s: %w", key, err)
	}
	ptrs := resource.Secrets(obj)
	if len(ptrs) != len(vals) {
		return nil, fmt.Errorf("registry: record %s: %d sealed secrets for %d fields", key, len(vals), len(ptrs))
	}
	for i, p := range ptrs {
		*p = vals[i]
	}
	o, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	return json.Marshal(record{Op: rec.Op, Object: o})
}

// sealedWith returns the ID of the key that sealed value, "" for a record
// without an envelope (or a value that is not a record).
func sealedWith(value []byte) string {
	var rec sealedRecord
	if json.Unmarshal(value, &rec) != nil || rec.Sealed == nil {
		return ""
	}
	return rec.Sealed.KID
}
