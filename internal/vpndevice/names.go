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

// encrSpelling is how one vendor's syntax writes the encryption
// transforms: 3DES, NULL, and prefixes of AES-CBC and AES-GCM-16 to which
// the key length is appended.
type encrSpelling struct{ des3, null, cbc, gcm string }

// Vendor spellings of encryption transforms.
var (
	libreswanEncr   = encrSpelling{des3: "3des", null: "null", cbc: "aes", gcm: "aes_gcm"}
	ciscoIKEv2Encr  = encrSpelling{des3: "3des", cbc: "aes-cbc-", gcm: "aes-gcm-"}
	ciscoISAKMPEncr = encrSpelling{des3: "3des", cbc: "aes "}
	ciscoESPEncr    = encrSpelling{des3: "esp-3des", null: "esp-null", cbc: "esp-aes ", gcm: "esp-gcm "}
)

// name spells e; a transform the vendor has no word for is written as
// transform names it.
func (sp encrSpelling) name(e transform.Encr) string {
	bits := strconv.Itoa(e.KeyBits)
	var n string
	switch e.ID {
	case transform.EncrDES3:
		n = sp.des3
	case transform.EncrNULL:
		n = sp.null
	case transform.EncrAESCBC:
		n = cond(sp.cbc != "", sp.cbc+bits, "")
	case transform.EncrAESGCM16:
		n = cond(sp.gcm != "", sp.gcm+bits, "")
	}
	if n == "" {
		return e.Name()
	}
	return n
}

// cond is a if c, else b.
func cond(c bool, a, b string) string {
	if c {
		return a
	}
	return b
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
	alt(len(p.Encr), func(i int) string { return libreswanEncr.name(p.Encr[i]) })
	if esp {
		alt(len(p.Integ), func(i int) string { return libreswanHash(transform.TypeINTEG, p.Integ[i]) })
	} else {
		alt(len(p.PRF), func(i int) string { return libreswanHash(transform.TypePRF, p.PRF[i]) })
	}
	alt(len(p.DH), func(i int) string { return libreswanDH(p.DH[i]) })
	return strings.Join(parts, "-")
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
		parts = append(parts, ciscoESPEncr.name(e))
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
