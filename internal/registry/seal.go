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

// SecretKeyPrefix is where the control plane keeps secrets of its own
// (not resources): every value under it is sealed whole.
const SecretKeyPrefix = "x/secret/"

// isSecretKey reports whether key holds a value sealed whole.
func isSecretKey(key string) bool { return strings.HasPrefix(key, SecretKeyPrefix) }

// sealWhole returns value sealed whole under kr's current key, as a
// sealedRecord with no object; a value already sealed is returned as is.
func sealWhole(kr Keyring, key string, value []byte) ([]byte, error) {
	if sealedWith(value) != "" {
		return value, nil
	}
	env, err := sealBytes(kr, key, value)
	if err != nil {
		return nil, err
	}
	return json.Marshal(sealedRecord{Sealed: env})
}

// openAny opens a record (open) or a value sealed whole (by its key).
func openAny(kr Keyring, key string, value []byte) ([]byte, error) {
	if !isSecretKey(key) {
		return open(kr, key, value)
	}
	var rec sealedRecord
	if err := json.Unmarshal(value, &rec); err != nil || rec.Sealed == nil {
		return nil, fmt.Errorf("registry: %s is not sealed", key)
	}
	return openBytes(kr, key, rec.Sealed)
}

// sealBytes seals pt under kr's current key, bound to key.
func sealBytes(kr Keyring, key string, pt []byte) (*envelope, error) {
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
	return env, nil
}

// openBytes opens an envelope sealed for key.
func openBytes(kr Keyring, key string, env *envelope) ([]byte, error) {
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
	return pt, nil
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
	env, err := sealBytes(kr, key, pt)
	if err != nil {
		return nil, err
	}
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
	pt, err := openBytes(kr, key, rec.Sealed)
	if err != nil {
		return nil, err
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
