package mschapv2

import (
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRFC2759Vectors: RFC 2759 §9.2 and RFC 3079 §3.5.3 (128-bit keys).
func TestRFC2759Vectors(t *testing.T) {
	var auth, peer [16]byte
	copy(auth[:], unhex(t, "5B 5D 7C 7D 7B 3F 2F 3E 3C 2C 60 21 32 26 26 28"))
	copy(peer[:], unhex(t, "21 40 23 24 25 5E 26 2A 28 29 5F 2B 3A 33 7C 7E"))
	pw := NTPasswordHash("clientPass")
	check := func(name string, got []byte, want string) {
		t.Helper()
		if w := unhex(t, want); hex.EncodeToString(got) != hex.EncodeToString(w) {
			t.Errorf("%s = %X, want %X", name, got, w)
		}
	}
	check("PasswordHash", pw[:], "44 EB BA 8D 53 12 B8 D6 11 47 44 11 F5 69 89 AE")
	hh := hashHash(pw)
	check("PasswordHashHash", hh[:], "41 C0 0C 58 4B D2 D9 1C 40 17 A2 A1 2F A5 9F 3F")
	ch := ChallengeHash(peer, auth, "User")
	check("Challenge", ch[:], "D0 2E 43 86 BC E9 12 26")
	nt := NTResponse(ch, pw)
	check("NT-Response", nt[:], "82 30 9E CD 8D 70 8B 5E A0 8F AA 39 81 CD 83 54 42 33 11 4A 3D 85 D6 DF")
	ar := AuthenticatorResponse(pw, nt, ch)
	if got := fmt.Sprintf("S=%X", ar); got != "S=407A5589115FD0D6209F510FE9C04566932CDA56" {
		t.Errorf("AuthenticatorResponse %s", got)
	}
	mk := MasterKey(pw, nt)
	check("MasterKey", mk[:], "FD EC E3 71 7A 8C 83 8C B3 88 E5 27 AE 3C DD 31")
	// RFC 3079 §3.5.3: the 128-bit SendStartKey derived with Magic3
	// (the server's send key, the client's receive key).
	sk := startKey(mk, clientRecvMagic)
	check("SendStartKey128", sk[:], "8B 7C DC 14 9B 99 3A 1B A1 18 CB 15 3F 56 DC CB")
	msk := MSK(pw, nt)
	rk := startKey(mk, clientSendMagic)
	if hex.EncodeToString(msk[:16]) != hex.EncodeToString(rk[:]) || hex.EncodeToString(msk[16:32]) != hex.EncodeToString(sk[:]) || msk[32] != 0 || msk[63] != 0 {
		t.Errorf("MSK layout %X", msk)
	}
}

func TestUserName(t *testing.T) {
	for in, want := range map[string]string{"alice": "alice", `CORP\alice`: "alice", `a\b\c`: "c", `trailing\`: ""} {
		if got := UserName(in); got != want {
			t.Errorf("UserName(%q) = %q, want %q", in, got, want)
		}
	}
}
