// Package mschapv2 is MS-CHAPv2 (RFC 2759) and its key derivation for EAP
// (RFC 3079), and the authenticator (gateway) side of EAP-MSCHAPv2
// (draft-kamath-pppext-eap-mschapv2) that point-to-site clients use with
// a user name and password.
//
// The primitives (NTPasswordHash, ChallengeHash, NTResponse,
// AuthenticatorResponse, MSK) follow RFC 2759 §8 and RFC 3079 §3 and are
// checked against their published test vectors. Server runs one
// authentication: Challenge, Response, Success or Failure, and yields the
// 64-byte MSK that IKEv2 signs its AUTH payloads with (RFC 7296 §2.16), the
// same MSK strongSwan and Windows derive.
package mschapv2

import (
	"crypto/des"
	"crypto/sha1"
	"encoding/binary"
	"unicode/utf16"

	"golang.org/x/crypto/md4" //nolint:staticcheck // MS-CHAPv2 is defined on MD4 (RFC 2759 §8.3)
)

// NTPasswordHash is MD4 of the password in UTF-16 little endian (RFC 2759
// §8.3).
func NTPasswordHash(password string) [16]byte {
	u := utf16.Encode([]rune(password))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return hashMD4(b)
}

// hashHash is NtPasswordHash applied to a password hash (RFC 2759 §8.4,
// HashNtPasswordHash).
func hashHash(h [16]byte) [16]byte { return hashMD4(h[:]) }

func hashMD4(b []byte) [16]byte {
	m := md4.New()
	m.Write(b)
	var out [16]byte
	copy(out[:], m.Sum(nil))
	return out
}

// ChallengeHash is the first 8 bytes of SHA-1(PeerChallenge |
// AuthenticatorChallenge | UserName) (RFC 2759 §8.2). UserName is without
// any domain part (see UserName).
func ChallengeHash(peer, auth [16]byte, user string) [8]byte {
	h := sha1.New()
	h.Write(peer[:])
	h.Write(auth[:])
	h.Write([]byte(user))
	var out [8]byte
	copy(out[:], h.Sum(nil))
	return out
}

// NTResponse is the 24-byte response to challenge with the password hash
// (RFC 2759 §8.1 GenerateNTResponse, §8.5 ChallengeResponse).
func NTResponse(challenge [8]byte, pwHash [16]byte) [24]byte {
	var z [21]byte
	copy(z[:], pwHash[:])
	var out [24]byte
	for i := range 3 {
		desEncrypt(out[8*i:8*i+8], z[7*i:7*i+7], challenge[:])
	}
	return out
}

// desEncrypt encrypts one block with the DES key made of 7 key bytes
// (RFC 2759 §8.6: parity bits inserted).
func desEncrypt(dst, key7, block []byte) {
	var k [8]byte
	k[0] = key7[0]
	k[1] = key7[0]<<7 | key7[1]>>1
	k[2] = key7[1]<<6 | key7[2]>>2
	k[3] = key7[2]<<5 | key7[3]>>3
	k[4] = key7[3]<<4 | key7[4]>>4
	k[5] = key7[4]<<3 | key7[5]>>5
	k[6] = key7[5]<<2 | key7[6]>>6
	k[7] = key7[6] << 1
	c, err := des.NewCipher(k[:])
	if err != nil {
		panic(err) // an 8-byte key is always accepted
	}
	c.Encrypt(dst, block)
}

var (
	magic1 = []byte("Magic server to client signing constant")
	magic2 = []byte("Pad to make it do more than one iteration")
)

// AuthenticatorResponse is the 20-byte value the authenticator proves
// knowledge of the password with (RFC 2759 §8.7), sent as "S=" and 40
// upper-case hex digits.
func AuthenticatorResponse(pwHash [16]byte, ntResponse [24]byte, challenge [8]byte) [20]byte {
	hh := hashHash(pwHash)
	h := sha1.New()
	h.Write(hh[:])
	h.Write(ntResponse[:])
	h.Write(magic1)
	digest := h.Sum(nil)
	h.Reset()
	h.Write(digest)
	h.Write(challenge[:])
	h.Write(magic2)
	var out [20]byte
	copy(out[:], h.Sum(nil))
	return out
}

// RFC 3079 §3.4 constants.
var (
	masterMagic = []byte("This is the MPPE Master Key")
	// clientSendMagic: "On the client side, this is the send key; on the
	// server side, it is the receive key." (Magic2)
	clientSendMagic = []byte("On the client side, this is the send key; on the server side, it is the receive key.")
	// clientRecvMagic: Magic3.
	clientRecvMagic = []byte("On the client side, this is the receive key; on the server side, it is the send key.")
	shsPad1         = make([]byte, 40)
	shsPad2         = func() []byte {
		b := make([]byte, 40)
		for i := range b {
			b[i] = 0xf2
		}
		return b
	}()
)

// MasterKey is RFC 3079 §3.4 GetMasterKey (16 bytes).
func MasterKey(pwHash [16]byte, ntResponse [24]byte) [16]byte {
	hh := hashHash(pwHash)
	h := sha1.New()
	h.Write(hh[:])
	h.Write(ntResponse[:])
	h.Write(masterMagic)
	var out [16]byte
	copy(out[:], h.Sum(nil))
	return out
}

// startKey is RFC 3079 §3.4 GetAsymmetricStartKey for a 16-byte key with
// the given magic.
func startKey(master [16]byte, magic []byte) [16]byte {
	h := sha1.New()
	h.Write(master[:])
	h.Write(shsPad1)
	h.Write(magic)
	h.Write(shsPad2)
	var out [16]byte
	copy(out[:], h.Sum(nil))
	return out
}

// MSKLen is the length of the EAP-MSCHAPv2 MSK.
const MSKLen = 64

// MSK is the EAP Master Session Key of an MS-CHAPv2 exchange: the
// client's send key (the server's receive key), then the client's receive
// key (the server's send key), then 32 zero bytes — the layout strongSwan
// and Windows use, so that both ends of IKEv2 EAP authentication sign with
// the same key.
func MSK(pwHash [16]byte, ntResponse [24]byte) [MSKLen]byte {
	mk := MasterKey(pwHash, ntResponse)
	var out [MSKLen]byte
	a, b := startKey(mk, clientSendMagic), startKey(mk, clientRecvMagic)
	copy(out[:16], a[:])
	copy(out[16:32], b[:])
	return out
}

// UserName is the part of an identity that MS-CHAPv2 hashes: what follows
// a "DOMAIN\" prefix, if any (RFC 2759 §4: the user name without domain).
func UserName(identity string) string {
	for i := len(identity) - 1; i >= 0; i-- {
		if identity[i] == '\\' {
			return identity[i+1:]
		}
	}
	return identity
}
