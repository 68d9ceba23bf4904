package transform

import (
	"fmt"
	"strconv"
)

// String returns the transform type's name as RFC 7296 §3.3.2 abbreviates
// it: "ENCR", "PRF", "INTEG", "DH" or "ESN".
func (t Type) String() string {
	switch t {
	case TypeENCR:
		return "ENCR"
	case TypePRF:
		return "PRF"
	case TypeINTEG:
		return "INTEG"
	case TypeDH:
		return "DH"
	case TypeESN:
		return "ESN"
	}
	return "TYPE(" + strconv.Itoa(int(t)) + ")"
}

// transformNames holds the display names of the transforms this package
// knows, in the spelling strongSwan uses in its logs ("AES_GCM_16",
// "HMAC_SHA2_256_128", "ECP_256"), so that vpngw and strongSwan logs of the
// same negotiation read alike.
var transformNames = map[Type]map[ID]string{
	TypeENCR: {
		EncrDES3:             "3DES_CBC",
		EncrNULL:             "NULL",
		EncrAESCBC:           "AES_CBC",
		EncrAESCTR:           "AES_CTR",
		EncrAESGCM8:          "AES_GCM_8",
		EncrAESGCM12:         "AES_GCM_12",
		EncrAESGCM16:         "AES_GCM_16",
		EncrChaCha20Poly1305: "CHACHA20_POLY1305",
	},
	TypePRF: {
		PRFHMACMD5:     "PRF_HMAC_MD5",
		PRFHMACSHA1:    "PRF_HMAC_SHA1",
		PRFHMACSHA2256: "PRF_HMAC_SHA2_256",
		PRFHMACSHA2384: "PRF_HMAC_SHA2_384",
		PRFHMACSHA2512: "PRF_HMAC_SHA2_512",
	},
	TypeINTEG: {
		IntegNone:           "NONE",
		IntegHMACMD596:      "HMAC_MD5_96",
		IntegHMACSHA196:     "HMAC_SHA1_96",
		IntegHMACSHA2256128: "HMAC_SHA2_256_128",
		IntegHMACSHA2384192: "HMAC_SHA2_384_192",
		IntegHMACSHA2512256: "HMAC_SHA2_512_256",
	},
	TypeDH: {
		DHNone:         "NONE",
		DHMODP768:      "MODP_768",
		DHMODP1024:     "MODP_1024",
		DHMODP1536:     "MODP_1536",
		DHMODP2048:     "MODP_2048",
		DHMODP3072:     "MODP_3072",
		DHMODP4096:     "MODP_4096",
		DHECP256:       "ECP_256",
		DHECP384:       "ECP_384",
		DHECP521:       "ECP_521",
		DHMODP2048S256: "MODP_2048_256",
		DHCurve25519:   "CURVE_25519",
	},
	TypeESN: {
		ESNNo:  "NO_EXT_SEQ",
		ESNYes: "EXT_SEQ",
	},
}

// Name returns the display name of transform id of type t for logs and
// status output, e.g. Name(TypeENCR, EncrAESGCM16) == "AES_GCM_16". An
// identifier this package does not know is shown as "ENCR(99)".
func Name(t Type, id ID) string {
	if n, ok := transformNames[t][id]; ok {
		return n
	}
	return fmt.Sprintf("%s(%d)", t, id)
}
