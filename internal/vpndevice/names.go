package vpndevice

import (
	"strconv"
	"strings"

	"github.com/vpngw/vpngw/internal/transform"
)

// Each vendor spells the algorithms its own way; these tables map the
// transforms Azure's proposals use (transform's IDs) to those spellings.
// Names the tables lack fall back to transform.Name, which a reader (and
// the device) will notice.

// hashName is the hash of an integrity algorithm or PRF, in neutral
// spelling: "md5", "sha1", "sha256", "sha384", "sha512".
func hashName(t transform.Type, id transform.ID) string {
	switch {
	case t == transform.TypeINTEG && id == transform.IntegHMACMD596, t == transform.TypePRF && id == transform.PRFHMACMD5:
		return "md5"
	case t == transform.TypeINTEG && id == transform.IntegHMACSHA196, t == transform.TypePRF && id == transform.PRFHMACSHA1:
		return "sha1"
	case t == transform.TypeINTEG && id == transform.IntegHMACSHA2256128, t == transform.TypePRF && id == transform.PRFHMACSHA2256:
		return "sha256"
	case t == transform.TypeINTEG && id == transform.IntegHMACSHA2384192, t == transform.TypePRF && id == transform.PRFHMACSHA2384:
		return "sha384"
	case t == transform.TypeINTEG && id == transform.IntegHMACSHA2512256, t == transform.TypePRF && id == transform.PRFHMACSHA2512:
		return "sha512"
	}
	return transform.Name(t, id)
}

// libreswanEncr is libreswan's name of an encryption transform.
func libreswanEncr(e transform.Encr) string {
	bits := strconv.Itoa(e.KeyBits)
	switch e.ID {
	case transform.EncrDES3:
		return "3des"
	case transform.EncrNULL:
		return "null"
	case transform.EncrAESCBC:
		return "aes" + bits
	case transform.EncrAESGCM16:
		return "aes_gcm" + bits
	}
	return e.Name()
}

// libreswanHash is libreswan's name of a hash ("sha2_256").
func libreswanHash(t transform.Type, id transform.ID) string {
	h := hashName(t, id)
	if strings.HasPrefix(h, "sha") && h != "sha1" {
		return "sha2_" + strings.TrimPrefix(h, "sha")
	}
	return h
}

// libreswanDH is libreswan's name of a DH group.
func libreswanDH(id transform.ID) string {
	switch id {
	case transform.DHMODP768:
		return "modp768"
	case transform.DHMODP1024:
		return "modp1024"
	case transform.DHMODP1536:
		return "modp1536"
	case transform.DHMODP2048:
		return "modp2048"
	}
	return "dh" + strconv.Itoa(int(id))
}

// libreswanProposal renders one proposal in libreswan's ike=/esp= syntax:
// ENCR-HASH-DH with '+' between alternatives (the PRF stands for the hash
// in IKE; AEAD ESP has no hash).
func libreswanProposal(p transform.Proposal, esp bool) string {
	var parts []string
	alt := func(n int, name func(int) string) {
		if n == 0 {
			return
		}
		s := make([]string, n)
		for i := range s {
			s[i] = name(i)
		}
		parts = append(parts, strings.Join(s, "+"))
	}
	alt(len(p.Encr), func(i int) string { return libreswanEncr(p.Encr[i]) })
	if esp {
		alt(len(p.Integ), func(i int) string { return libreswanHash(transform.TypeINTEG, p.Integ[i]) })
	} else {
		alt(len(p.PRF), func(i int) string { return libreswanHash(transform.TypePRF, p.PRF[i]) })
	}
	alt(len(p.DH), func(i int) string { return libreswanDH(p.DH[i]) })
	return strings.Join(parts, "-")
}

// ciscoIKEv2Encr is IOS's IKEv2 proposal encryption keyword.
func ciscoIKEv2Encr(e transform.Encr) string {
	bits := strconv.Itoa(e.KeyBits)
	switch e.ID {
	case transform.EncrDES3:
		return "3des"
	case transform.EncrAESCBC:
		return "aes-cbc-" + bits
	case transform.EncrAESGCM16:
		return "aes-gcm-" + bits
	}
	return e.Name()
}

// ciscoISAKMPEncr is IOS's IKEv1 (ISAKMP policy) encryption.
func ciscoISAKMPEncr(e transform.Encr) string {
	switch e.ID {
	case transform.EncrDES3:
		return "3des"
	case transform.EncrAESCBC:
		return "aes " + strconv.Itoa(e.KeyBits)
	}
	return e.Name()
}

// ciscoISAKMPHash is IOS's IKEv1 hash keyword ("sha" is SHA-1).
func ciscoISAKMPHash(id transform.ID) string {
	if h := hashName(transform.TypeINTEG, id); h != "sha1" {
		return h
	}
	return "sha"
}

// ciscoTransformSet is an IOS transform set for one ESP proposal.
func ciscoTransformSet(p transform.Proposal) string {
	var parts []string
	for _, e := range p.Encr[:1] {
		bits := strconv.Itoa(e.KeyBits)
		switch e.ID {
		case transform.EncrDES3:
			parts = append(parts, "esp-3des")
		case transform.EncrNULL:
			parts = append(parts, "esp-null")
		case transform.EncrAESCBC:
			parts = append(parts, "esp-aes "+bits)
		case transform.EncrAESGCM16:
			parts = append(parts, "esp-gcm "+bits)
		default:
			parts = append(parts, e.Name())
		}
	}
	for _, id := range p.Integ[:min(1, len(p.Integ))] {
		switch h := hashName(transform.TypeINTEG, id); h {
		case "sha1":
			parts = append(parts, "esp-sha-hmac")
		default:
			parts = append(parts, "esp-"+h+"-hmac")
		}
	}
	return strings.Join(parts, " ")
}
