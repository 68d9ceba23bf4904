package message

import "strconv"

// ExchangeType is the Exchange Type field of the IKE header (RFC 7296 §3.1).
type ExchangeType uint8

// Exchange types.
const (
	IKESAInit        ExchangeType = 34 // IKE_SA_INIT
	IKEAuth          ExchangeType = 35 // IKE_AUTH
	CreateChildSA    ExchangeType = 36 // CREATE_CHILD_SA
	Informational    ExchangeType = 37 // INFORMATIONAL
	IKESessionResume ExchangeType = 38 // IKE_SESSION_RESUME (RFC 5723)
	IKEIntermediate  ExchangeType = 43 // IKE_INTERMEDIATE (RFC 9242)
	IKEFollowupKE    ExchangeType = 44 // IKE_FOLLOWUP_KE (RFC 9370)
)

var exchangeNames = map[ExchangeType]string{
	IKESAInit:        "IKE_SA_INIT",
	IKEAuth:          "IKE_AUTH",
	CreateChildSA:    "CREATE_CHILD_SA",
	Informational:    "INFORMATIONAL",
	IKESessionResume: "IKE_SESSION_RESUME",
	IKEIntermediate:  "IKE_INTERMEDIATE",
	IKEFollowupKE:    "IKE_FOLLOWUP_KE",
}

// String returns the RFC name of the exchange type ("IKE_SA_INIT") or its
// number.
func (e ExchangeType) String() string {
	if s, ok := exchangeNames[e]; ok {
		return s
	}
	return "EXCHANGE(" + strconv.Itoa(int(e)) + ")"
}

// PayloadType is an IKEv2 payload type (RFC 7296 §3.2), the value carried in
// Next Payload fields.
type PayloadType uint8

// Payload types.
const (
	PayloadNone     PayloadType = 0  // no next payload
	PayloadSA       PayloadType = 33 // Security Association
	PayloadKE       PayloadType = 34 // Key Exchange
	PayloadIDi      PayloadType = 35 // Identification - Initiator
	PayloadIDr      PayloadType = 36 // Identification - Responder
	PayloadCERT     PayloadType = 37 // Certificate
	PayloadCERTREQ  PayloadType = 38 // Certificate Request
	PayloadAUTH     PayloadType = 39 // Authentication
	PayloadNonce    PayloadType = 40 // Nonce (Ni, Nr)
	PayloadNotify   PayloadType = 41 // Notify
	PayloadDelete   PayloadType = 42 // Delete
	PayloadVendorID PayloadType = 43 // Vendor ID
	PayloadTSi      PayloadType = 44 // Traffic Selector - Initiator
	PayloadTSr      PayloadType = 45 // Traffic Selector - Responder
	PayloadSK       PayloadType = 46 // Encrypted and Authenticated
	PayloadCP       PayloadType = 47 // Configuration
	PayloadEAP      PayloadType = 48 // Extensible Authentication
	PayloadSKF      PayloadType = 53 // Encrypted and Authenticated Fragment (RFC 7383)
)

var payloadNames = map[PayloadType]string{
	PayloadNone:     "NONE",
	PayloadSA:       "SA",
	PayloadKE:       "KE",
	PayloadIDi:      "IDi",
	PayloadIDr:      "IDr",
	PayloadCERT:     "CERT",
	PayloadCERTREQ:  "CERTREQ",
	PayloadAUTH:     "AUTH",
	PayloadNonce:    "Nonce",
	PayloadNotify:   "N",
	PayloadDelete:   "D",
	PayloadVendorID: "V",
	PayloadTSi:      "TSi",
	PayloadTSr:      "TSr",
	PayloadSK:       "SK",
	PayloadCP:       "CP",
	PayloadEAP:      "EAP",
	PayloadSKF:      "SKF",
}

// String returns the RFC 7296 notation of the payload type ("SA", "KE",
// "N", "SK", ...) or its number.
func (t PayloadType) String() string {
	if s, ok := payloadNames[t]; ok {
		return s
	}
	return "PAYLOAD(" + strconv.Itoa(int(t)) + ")"
}

// known reports whether this package parses payloads of type t itself (as
// opposed to keeping them as Unknown).
func (t PayloadType) known() bool {
	return (t >= PayloadSA && t <= PayloadEAP) || t == PayloadSKF
}

// ProtocolID is the Protocol ID of proposals, notifies and deletes
// (RFC 7296 §3.3.1).
type ProtocolID uint8

// Protocol IDs.
const (
	ProtoIKE ProtocolID = 1
	ProtoAH  ProtocolID = 2
	ProtoESP ProtocolID = 3
)

// String returns "IKE", "AH", "ESP" or the number.
func (p ProtocolID) String() string {
	switch p {
	case 0:
		return "NONE"
	case ProtoIKE:
		return "IKE"
	case ProtoAH:
		return "AH"
	case ProtoESP:
		return "ESP"
	}
	return "PROTO(" + strconv.Itoa(int(p)) + ")"
}

// spiLen is the SPI length a protocol uses in proposals and deletes once
// the IKE SA exists (8 for IKE, 4 for ESP and AH), or -1 if unknown.
func (p ProtocolID) spiLen() int {
	switch p {
	case ProtoIKE:
		return 8
	case ProtoAH, ProtoESP:
		return 4
	}
	return -1
}

// IDType is the ID Type of an identification payload (RFC 7296 §3.5).
type IDType uint8

// Identification types.
const (
	IDIPv4Addr   IDType = 1  // ID_IPV4_ADDR: 4 octets
	IDFQDN       IDType = 2  // ID_FQDN: a domain name, no terminator
	IDRFC822Addr IDType = 3  // ID_RFC822_ADDR: an e-mail address
	IDIPv6Addr   IDType = 5  // ID_IPV6_ADDR: 16 octets
	IDDerASN1DN  IDType = 9  // ID_DER_ASN1_DN: DER X.500 distinguished name
	IDDerASN1GN  IDType = 10 // ID_DER_ASN1_GN: DER X.509 GeneralName
	IDKeyID      IDType = 11 // ID_KEY_ID: opaque octets
	IDNull       IDType = 13 // ID_NULL (RFC 7619): empty
)

var idTypeNames = map[IDType]string{
	IDIPv4Addr:   "ID_IPV4_ADDR",
	IDFQDN:       "ID_FQDN",
	IDRFC822Addr: "ID_RFC822_ADDR",
	IDIPv6Addr:   "ID_IPV6_ADDR",
	IDDerASN1DN:  "ID_DER_ASN1_DN",
	IDDerASN1GN:  "ID_DER_ASN1_GN",
	IDKeyID:      "ID_KEY_ID",
	IDNull:       "ID_NULL",
}

// String returns the RFC name of the ID type.
func (t IDType) String() string {
	if s, ok := idTypeNames[t]; ok {
		return s
	}
	return "ID(" + strconv.Itoa(int(t)) + ")"
}

// Certificate encodings of CERT and CERTREQ payloads (RFC 7296 §3.6).
const (
	CertPKCS7         = 1  // PKCS #7 wrapped X.509 certificate
	CertX509Signature = 4  // X.509 Certificate - Signature (DER)
	CertCRL           = 7  // Certificate Revocation List (DER)
	CertHashURLX509   = 12 // Hash and URL of X.509 certificate
	CertHashURLBundle = 13 // Hash and URL of X.509 bundle
	CertRawPublicKey  = 15 // Raw Public Key (RFC 7670)
)

// AuthMethod is the Auth Method of an AUTH payload (RFC 7296 §3.8,
// RFC 7427).
type AuthMethod uint8

// Authentication methods.
const (
	AuthRSASig           AuthMethod = 1  // RSA Digital Signature (PKCS #1 v1.5, SHA-1)
	AuthSharedKeyMIC     AuthMethod = 2  // Shared Key Message Integrity Code
	AuthDSSSig           AuthMethod = 3  // DSS Digital Signature
	AuthECDSA256         AuthMethod = 9  // ECDSA with SHA-256 on the P-256 curve (RFC 4754)
	AuthECDSA384         AuthMethod = 10 // ECDSA with SHA-384 on the P-384 curve
	AuthECDSA521         AuthMethod = 11 // ECDSA with SHA-512 on the P-521 curve
	AuthNull             AuthMethod = 13 // NULL Authentication (RFC 7619)
	AuthDigitalSignature AuthMethod = 14 // Digital Signature (RFC 7427)
)

var authNames = map[AuthMethod]string{
	AuthRSASig:           "RSA_SIG",
	AuthSharedKeyMIC:     "SHARED_KEY_MIC",
	AuthDSSSig:           "DSS_SIG",
	AuthECDSA256:         "ECDSA_256",
	AuthECDSA384:         "ECDSA_384",
	AuthECDSA521:         "ECDSA_521",
	AuthNull:             "NULL_AUTH",
	AuthDigitalSignature: "DIGITAL_SIGNATURE",
}

// String returns the name of the authentication method.
func (a AuthMethod) String() string {
	if s, ok := authNames[a]; ok {
		return s
	}
	return "AUTH(" + strconv.Itoa(int(a)) + ")"
}

// TSType is the TS Type of a traffic selector (RFC 7296 §3.13.1).
type TSType uint8

// Traffic selector types.
const (
	TSIPv4AddrRange TSType = 7 // TS_IPV4_ADDR_RANGE
	TSIPv6AddrRange TSType = 8 // TS_IPV6_ADDR_RANGE
)

// String returns the RFC name of the selector type.
func (t TSType) String() string {
	switch t {
	case TSIPv4AddrRange:
		return "TS_IPV4_ADDR_RANGE"
	case TSIPv6AddrRange:
		return "TS_IPV6_ADDR_RANGE"
	}
	return "TS(" + strconv.Itoa(int(t)) + ")"
}

// CPType is the CFG Type of a configuration payload (RFC 7296 §3.15).
type CPType uint8

// Configuration payload types.
const (
	CPRequest CPType = 1 // CFG_REQUEST
	CPReply   CPType = 2 // CFG_REPLY
	CPSet     CPType = 3 // CFG_SET
	CPAck     CPType = 4 // CFG_ACK
)

// String returns the RFC name of the CFG type.
func (t CPType) String() string {
	switch t {
	case CPRequest:
		return "CFG_REQUEST"
	case CPReply:
		return "CFG_REPLY"
	case CPSet:
		return "CFG_SET"
	case CPAck:
		return "CFG_ACK"
	}
	return "CFG(" + strconv.Itoa(int(t)) + ")"
}

// Configuration attribute types (RFC 7296 §3.15.1, RFC 8598), the Type of a
// CPAttribute.
const (
	CPInternalIP4Address  = 1  // INTERNAL_IP4_ADDRESS: 0 or 4 octets
	CPInternalIP4Netmask  = 2  // INTERNAL_IP4_NETMASK: 0 or 4 octets
	CPInternalIP4DNS      = 3  // INTERNAL_IP4_DNS: 0 or 4 octets
	CPInternalIP4NBNS     = 4  // INTERNAL_IP4_NBNS: 0 or 4 octets
	CPInternalIP4DHCP     = 6  // INTERNAL_IP4_DHCP: 0 or 4 octets
	CPApplicationVersion  = 7  // APPLICATION_VERSION: 0 or more octets
	CPInternalIP6Address  = 8  // INTERNAL_IP6_ADDRESS: 0 or 17 octets
	CPInternalIP6DNS      = 10 // INTERNAL_IP6_DNS: 0 or 16 octets
	CPInternalIP6DHCP     = 12 // INTERNAL_IP6_DHCP: 0 or 16 octets
	CPInternalIP4Subnet   = 13 // INTERNAL_IP4_SUBNET: 0 or 8 octets
	CPSupportedAttributes = 14 // SUPPORTED_ATTRIBUTES: multiple of 2
	CPInternalIP6Subnet   = 15 // INTERNAL_IP6_SUBNET: 17 octets
	CPInternalDNSDomain   = 25 // INTERNAL_DNS_DOMAIN (RFC 8598)
	CPInternalDNSSECTA    = 26 // INTERNAL_DNSSEC_TA (RFC 8598)
)
