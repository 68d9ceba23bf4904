package transform

import (
	"encoding/hex"
	"strings"
	"testing"
)

// unhex decodes hex with optional whitespace, failing the test on error.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// repeat returns n copies of byte b.
func repeat(b byte, n int) []byte {
	return []byte(strings.Repeat(string([]byte{b}), n))
}

// seq returns the bytes from, from+1, ..., to.
func seq(from, to byte) []byte {
	var b []byte
	for c := int(from); c <= int(to); c++ {
		b = append(b, byte(c))
	}
	return b
}
