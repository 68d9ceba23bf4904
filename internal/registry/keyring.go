package registry

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/renameio/v2"
)

// KeySize is the size of a secrets key: AES-256.
const KeySize = 32

// Keyring holds the keys that seal the secrets in the records (see
// Sealed). A key file (KeyFile) is the one implementation; a KMS or an
// HSM can replace it by implementing these two methods. Implementations
// are safe for concurrent use and return keys the caller must not modify.
type Keyring interface {
	// Current returns the key that seals new writes: its ID (stored in
	// each sealed record, at most 64 printable characters) and its
	// KeySize bytes.
	Current() (id string, key []byte)
	// Lookup returns the key with ID id, which sealed an earlier write;
	// ok is false if the keyring does not hold it.
	Lookup(id string) (key []byte, ok bool)
}

// KeyFile is a Keyring read from a file kept apart from the store. The
// file is text: comment lines start with "#", every other line is one
// base64-encoded KeySize-byte key; the first key seals new writes, the
// others only open what they sealed (during a rotation). A key's ID is
// the first 8 bytes of its SHA-256, in hex, so the file stores no IDs.
type KeyFile struct {
	// Path is the file the keys were read from.
	Path string
	ids  []string
	keys map[string][]byte
}

var _ Keyring = (*KeyFile)(nil)

// keyFileHeader opens every key file written by vpngw.
const keyFileHeader = "# vpngw secrets key file (docs/security.md): one base64 AES-256 key a line,\n" +
	"# the first seals new writes. Keep it apart from the store, mode 0600.\n"

// KeyID is the ID of key: the hex of the first 8 bytes of its SHA-256.
func KeyID(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:8])
}

// LoadKeyFile reads the key file at path. A missing file is an error
// wrapping fs.ErrNotExist; a file that others may read, or that holds no
// key or a malformed one, is an error naming the file.
func LoadKeyFile(path string) (*KeyFile, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("secrets key file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("secrets key file %s: mode %04o lets others read it; chmod 600 it", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("secrets key file: %w", err)
	}
	kf := &KeyFile{Path: path, keys: make(map[string][]byte)}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, err := base64.StdEncoding.DecodeString(line)
		if err != nil || len(key) != KeySize {
			return nil, fmt.Errorf("secrets key file %s: line %d: want a base64 %d-byte key", path, i+1, KeySize)
		}
		id := KeyID(key)
		if _, dup := kf.keys[id]; !dup {
			kf.ids = append(kf.ids, id)
			kf.keys[id] = key
		}
	}
	if len(kf.ids) == 0 {
		return nil, fmt.Errorf("secrets key file %s: no key", path)
	}
	return kf, nil
}

// CreateKeyFile writes a key file holding one new random key at path
// (mode 0600; its directory is created 0700 if missing) and returns it. It
// fails if the file exists.
func CreateKeyFile(path string) (*KeyFile, error) {
	if _, err := os.Lstat(path); err == nil {
		return nil, fmt.Errorf("secrets key file %s: %w", path, fs.ErrExist)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("secrets key file: %w", err)
	}
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	if err := writeKeyFile(path, [][]byte{key}); err != nil {
		return nil, err
	}
	return LoadKeyFile(path)
}

// OpenOrCreateKeyFile loads the key file at path, or creates it (as
// CreateKeyFile) if it does not exist and create is true.
func OpenOrCreateKeyFile(path string, create bool) (kf *KeyFile, created bool, err error) {
	kf, err = LoadKeyFile(path)
	if errors.Is(err, fs.ErrNotExist) && create {
		kf, err = CreateKeyFile(path)
		return kf, err == nil, err
	}
	return kf, false, err
}

// Current implements Keyring.
func (kf *KeyFile) Current() (string, []byte) { return kf.ids[0], kf.keys[kf.ids[0]] }

// Lookup implements Keyring.
func (kf *KeyFile) Lookup(id string) ([]byte, bool) {
	k, ok := kf.keys[id]
	return k, ok
}

// IDs returns the IDs of the file's keys, the current one first.
func (kf *KeyFile) IDs() []string { return append([]string(nil), kf.ids...) }

// AddKey writes a new random key to the file as its first (current) key,
// keeping the others, and returns the updated keyring. The file is
// replaced atomically.
func (kf *KeyFile) AddKey() (*KeyFile, error) {
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	keys := [][]byte{key}
	for _, id := range kf.ids {
		keys = append(keys, kf.keys[id])
	}
	if err := writeKeyFile(kf.Path, keys); err != nil {
		return nil, err
	}
	return LoadKeyFile(kf.Path)
}

// KeepCurrent rewrites the file with the current key alone, dropping the
// others, and returns the updated keyring.
func (kf *KeyFile) KeepCurrent() (*KeyFile, error) {
	_, cur := kf.Current()
	if err := writeKeyFile(kf.Path, [][]byte{cur}); err != nil {
		return nil, err
	}
	return LoadKeyFile(kf.Path)
}

func newKey() ([]byte, error) {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("secrets key: %w", err)
	}
	return key, nil
}

func writeKeyFile(path string, keys [][]byte) error {
	var b strings.Builder
	b.WriteString(keyFileHeader)
	for _, k := range keys {
		b.WriteString(base64.StdEncoding.EncodeToString(k))
		b.WriteByte('\n')
	}
	if err := renameio.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("secrets key file: %w", err)
	}
	return nil
}
