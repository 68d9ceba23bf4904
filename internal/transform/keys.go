package transform

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// IKEKeys are the keys of an IKE SA (RFC 7296 §2.14), taken in this order
// from prf+(SKEYSEED, Ni ‖ Nr ‖ SPIi ‖ SPIr).
type IKEKeys struct {
	// SKd derives the keys of Child SAs and of the next IKE SA (PRF size).
	SKd []byte
	// SKai and SKar key the integrity algorithm for messages from the
	// initiator and from the responder; empty with a combined-mode cipher.
	SKai, SKar []byte
	// SKei and SKer key the encryption algorithm (including the salt of
	// AES-GCM and ChaCha20-Poly1305) for messages from the initiator and
	// from the responder.
	SKei, SKer []byte
	// SKpi and SKpr enter the AUTH payloads of the initiator and the
	// responder (PRF size).
	SKpi, SKpr []byte
}

// ChildKeys are the keys of one ESP Child SA pair (RFC 7296 §2.17), taken
// in this order from KEYMAT = prf+(SK_d, [g^ir] ‖ Ni ‖ Nr).
type ChildKeys struct {
	// EncrI and IntegI protect traffic from the initiator to the
	// responder; IntegI is empty with a combined-mode cipher.
	EncrI, IntegI []byte
	// EncrR and IntegR protect traffic from the responder to the
	// initiator; IntegR is empty with a combined-mode cipher.
	EncrR, IntegR []byte
}

// DeriveIKEKeys computes the keys of a new IKE SA from the IKE_SA_INIT
// exchange (RFC 7296 §2.14):
//
//	SKEYSEED = prf(Ni | Nr, g^ir)
//	{SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr}
//	        = prf+ (SKEYSEED, Ni | Nr | SPIi | SPIr)
//
// prf is the negotiated PRF; with the HMAC PRFs implemented here the key
// Ni ‖ Nr is used whole. gir is the Diffie-Hellman shared secret as DH.Shared
// returns it. encr, keyBits and integ are the negotiated encryption and
// integrity algorithms (integ is IntegNone with a combined-mode cipher) and
// determine the key lengths; ENCR_NULL is not allowed in IKE.
func DeriveIKEKeys(prf PRF, ni, nr, gir []byte, spii, spir uint64, encr ID, keyBits int, integ ID) (IKEKeys, error) {
	if err := checkIKEPair(encr, integ); err != nil {
		return IKEKeys{}, err
	}
	if len(gir) == 0 {
		return IKEKeys{}, errors.New("transform: IKE key derivation needs a Diffie-Hellman shared secret")
	}
	key := make([]byte, 0, len(ni)+len(nr))
	key = append(append(key, ni...), nr...)
	skeyseed := prf.Sum(nil, key, gir)
	defer clear(skeyseed)
	return ikeKeysFromSeed(prf, skeyseed, ni, nr, spii, spir, encr, keyBits, integ)
}

// DeriveRekeyedIKEKeys computes the keys of the IKE SA that a
// CREATE_CHILD_SA exchange creates to replace an existing one
// (RFC 7296 §2.18):
//
//	SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr)
//
// followed by the prf+ of DeriveIKEKeys with the new SPIs and nonces. The
// single prf serves both steps, which is right when the old and new IKE SA
// use the same PRF (the usual case, and always so when the proposals are
// unchanged). RFC 7296 §2.18 computes SKEYSEED with the old SA's PRF and
// the rest with the new SA's: when the rekey negotiated a different PRF,
// use DeriveRekeyedIKEKeysPRFs.
func DeriveRekeyedIKEKeys(prf PRF, oldSKd, gir, ni, nr []byte, spii, spir uint64, encr ID, keyBits int, integ ID) (IKEKeys, error) {
	return DeriveRekeyedIKEKeysPRFs(prf, prf, oldSKd, gir, ni, nr, spii, spir, encr, keyBits, integ)
}

// DeriveRekeyedIKEKeysPRFs is DeriveRekeyedIKEKeys with the old IKE SA's
// PRF (which computes SKEYSEED, RFC 7296 §2.18: "it is the old IKE SA's
// PRF that is used to generate SKEYSEED") and the new IKE SA's PRF (which
// runs prf+ and sizes SK_d, SK_pi, SK_pr) given separately.
func DeriveRekeyedIKEKeysPRFs(oldPRF, newPRF PRF, oldSKd, gir, ni, nr []byte, spii, spir uint64, encr ID, keyBits int, integ ID) (IKEKeys, error) {
	if err := checkIKEPair(encr, integ); err != nil {
		return IKEKeys{}, err
	}
	if len(gir) == 0 {
		return IKEKeys{}, errors.New("transform: rekeying an IKE SA needs a new Diffie-Hellman shared secret (RFC 7296 §2.18)")
	}
	if len(oldSKd) == 0 {
		return IKEKeys{}, errors.New("transform: rekeying an IKE SA needs the old SK_d")
	}
	skeyseed := oldPRF.Sum(nil, oldSKd, gir, ni, nr)
	defer clear(skeyseed)
	return ikeKeysFromSeed(newPRF, skeyseed, ni, nr, spii, spir, encr, keyBits, integ)
}

func checkIKEPair(encr, integ ID) error {
	if encr == EncrNULL {
		return fmt.Errorf("transform: %s is not allowed for IKE", Name(TypeENCR, encr))
	}
	return checkPair(encr, integ)
}

func ikeKeysFromSeed(prf PRF, skeyseed, ni, nr []byte, spii, spir uint64, encr ID, keyBits int, integ ID) (IKEKeys, error) {
	elen, err := EncrKeyLen(encr, keyBits)
	if err != nil {
		return IKEKeys{}, err
	}
	ilen, err := IntegKeyLen(integ)
	if err != nil {
		return IKEKeys{}, err
	}
	plen := prf.Size()
	total := 3*plen + 2*ilen + 2*elen
	if total > 255*plen {
		return IKEKeys{}, fmt.Errorf("transform: %d bytes of IKE keys exceed prf+ output", total)
	}
	seed := make([]byte, 0, len(ni)+len(nr)+16)
	seed = append(append(seed, ni...), nr...)
	seed = binary.BigEndian.AppendUint64(seed, spii)
	seed = binary.BigEndian.AppendUint64(seed, spir)
	km := keySplitter{PRFPlus(prf, skeyseed, seed, total)}
	return IKEKeys{
		SKd:  km.take(plen),
		SKai: km.take(ilen),
		SKar: km.take(ilen),
		SKei: km.take(elen),
		SKer: km.take(elen),
		SKpi: km.take(plen),
		SKpr: km.take(plen),
	}, nil
}

// DeriveChildKeys computes the keys of a Child SA (RFC 7296 §2.17):
//
//	KEYMAT = prf+(SK_d, Ni | Nr)            without PFS
//	KEYMAT = prf+(SK_d, g^ir (new) | Ni | Nr)   with a KE exchange
//
// gir is nil for a Child SA created in IKE_AUTH or without PFS. Ni and Nr
// are the nonces of the IKE_SA_INIT exchange for the first Child SA, and of
// the CREATE_CHILD_SA exchange otherwise. The initiator's keys come first,
// encryption before integrity (RFC 7296 §2.17).
func DeriveChildKeys(prf PRF, skd, gir, ni, nr []byte, encr ID, keyBits int, integ ID) (ChildKeys, error) {
	if err := checkPair(encr, integ); err != nil {
		return ChildKeys{}, err
	}
	elen, err := EncrKeyLen(encr, keyBits)
	if err != nil {
		return ChildKeys{}, err
	}
	ilen, err := IntegKeyLen(integ)
	if err != nil {
		return ChildKeys{}, err
	}
	if len(skd) == 0 {
		return ChildKeys{}, errors.New("transform: Child SA key derivation needs SK_d")
	}
	total := 2 * (elen + ilen)
	if total > 255*prf.Size() {
		return ChildKeys{}, fmt.Errorf("transform: %d bytes of Child SA keys exceed prf+ output", total)
	}
	seed := make([]byte, 0, len(gir)+len(ni)+len(nr))
	seed = append(append(append(seed, gir...), ni...), nr...)
	km := keySplitter{PRFPlus(prf, skd, seed, total)}
	return ChildKeys{
		EncrI:  km.take(elen),
		IntegI: km.take(ilen),
		EncrR:  km.take(elen),
		IntegR: km.take(ilen),
	}, nil
}

// keySplitter hands out consecutive pieces of keying material.
type keySplitter struct{ b []byte }

// take returns the next n bytes, with their capacity capped so that
// appending to one key never overwrites the next; nil for n == 0.
func (k *keySplitter) take(n int) []byte {
	if n == 0 {
		return nil
	}
	p := k.b[:n:n]
	k.b = k.b[n:]
	return p
}
