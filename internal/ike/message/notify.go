package message

import "strconv"

// NotifyType is the Notify Message Type of a Notify payload (RFC 7296
// §3.10.1 and the IANA "IKEv2 Notify Message Types" registry). Types below
// 16384 report errors; types from 16384 carry status.
type NotifyType uint16

// Error notify types.
const (
	NotifyUnsupportedCriticalPayload NotifyType = 1  // UNSUPPORTED_CRITICAL_PAYLOAD; data: the payload type (1 octet)
	NotifyInvalidIKESPI              NotifyType = 4  // INVALID_IKE_SPI
	NotifyInvalidMajorVersion        NotifyType = 5  // INVALID_MAJOR_VERSION
	NotifyInvalidSyntax              NotifyType = 7  // INVALID_SYNTAX
	NotifyInvalidMessageID           NotifyType = 9  // INVALID_MESSAGE_ID; data: the message ID (4 octets)
	NotifyInvalidSPI                 NotifyType = 11 // INVALID_SPI; data: the SPI
	NotifyNoProposalChosen           NotifyType = 14 // NO_PROPOSAL_CHOSEN
	NotifyInvalidKEPayload           NotifyType = 17 // INVALID_KE_PAYLOAD; data: the accepted DH group (2 octets)
	NotifyAuthenticationFailed       NotifyType = 24 // AUTHENTICATION_FAILED
	NotifySinglePairRequired         NotifyType = 34 // SINGLE_PAIR_REQUIRED
	NotifyNoAdditionalSAs            NotifyType = 35 // NO_ADDITIONAL_SAS
	NotifyInternalAddressFailure     NotifyType = 36 // INTERNAL_ADDRESS_FAILURE
	NotifyFailedCPRequired           NotifyType = 37 // FAILED_CP_REQUIRED
	NotifyTSUnacceptable             NotifyType = 38 // TS_UNACCEPTABLE
	NotifyInvalidSelectors           NotifyType = 39 // INVALID_SELECTORS
	NotifyUnacceptableAddresses      NotifyType = 40 // UNACCEPTABLE_ADDRESSES (RFC 4555)
	NotifyUnexpectedNATDetected      NotifyType = 41 // UNEXPECTED_NAT_DETECTED (RFC 4555)
	NotifyUseAssignedHoA             NotifyType = 42 // USE_ASSIGNED_HoA (RFC 5026)
	NotifyTemporaryFailure           NotifyType = 43 // TEMPORARY_FAILURE
	NotifyChildSANotFound            NotifyType = 44 // CHILD_SA_NOT_FOUND
	NotifyInvalidGroupID             NotifyType = 45 // INVALID_GROUP_ID (RFC 6407)
	NotifyAuthorizationFailed        NotifyType = 46 // AUTHORIZATION_FAILED (RFC 6407)
	NotifyStateNotFound              NotifyType = 47 // STATE_NOT_FOUND (RFC 9370)
)

// Status notify types.
const (
	NotifyInitialContact                  NotifyType = 16384 // INITIAL_CONTACT
	NotifySetWindowSize                   NotifyType = 16385 // SET_WINDOW_SIZE; data: window size (4 octets)
	NotifyAdditionalTSPossible            NotifyType = 16386 // ADDITIONAL_TS_POSSIBLE
	NotifyIPCompSupported                 NotifyType = 16387 // IPCOMP_SUPPORTED
	NotifyNATDetectionSourceIP            NotifyType = 16388 // NAT_DETECTION_SOURCE_IP; data: SHA-1 hash (20 octets)
	NotifyNATDetectionDestinationIP       NotifyType = 16389 // NAT_DETECTION_DESTINATION_IP; data: SHA-1 hash (20 octets)
	NotifyCookie                          NotifyType = 16390 // COOKIE; data: 1..64 octets
	NotifyUseTransportMode                NotifyType = 16391 // USE_TRANSPORT_MODE
	NotifyHTTPCertLookupSupported         NotifyType = 16392 // HTTP_CERT_LOOKUP_SUPPORTED
	NotifyRekeySA                         NotifyType = 16393 // REKEY_SA; SPI: the SA being rekeyed
	NotifyESPTFCPaddingNotSupported       NotifyType = 16394 // ESP_TFC_PADDING_NOT_SUPPORTED
	NotifyNonFirstFragmentsAlso           NotifyType = 16395 // NON_FIRST_FRAGMENTS_ALSO
	NotifyMOBIKESupported                 NotifyType = 16396 // MOBIKE_SUPPORTED (RFC 4555)
	NotifyAdditionalIP4Address            NotifyType = 16397 // ADDITIONAL_IP4_ADDRESS (RFC 4555)
	NotifyAdditionalIP6Address            NotifyType = 16398 // ADDITIONAL_IP6_ADDRESS (RFC 4555)
	NotifyNoAdditionalAddresses           NotifyType = 16399 // NO_ADDITIONAL_ADDRESSES (RFC 4555)
	NotifyUpdateSAAddresses               NotifyType = 16400 // UPDATE_SA_ADDRESSES (RFC 4555)
	NotifyCookie2                         NotifyType = 16401 // COOKIE2 (RFC 4555)
	NotifyNoNATsAllowed                   NotifyType = 16402 // NO_NATS_ALLOWED (RFC 4555)
	NotifyAuthLifetime                    NotifyType = 16403 // AUTH_LIFETIME (RFC 4478)
	NotifyMultipleAuthSupported           NotifyType = 16404 // MULTIPLE_AUTH_SUPPORTED (RFC 4739)
	NotifyAnotherAuthFollows              NotifyType = 16405 // ANOTHER_AUTH_FOLLOWS (RFC 4739)
	NotifyRedirectSupported               NotifyType = 16406 // REDIRECT_SUPPORTED (RFC 5685)
	NotifyRedirect                        NotifyType = 16407 // REDIRECT (RFC 5685)
	NotifyRedirectedFrom                  NotifyType = 16408 // REDIRECTED_FROM (RFC 5685)
	NotifyTicketLTOpaque                  NotifyType = 16409 // TICKET_LT_OPAQUE (RFC 5723)
	NotifyTicketRequest                   NotifyType = 16410 // TICKET_REQUEST (RFC 5723)
	NotifyTicketAck                       NotifyType = 16411 // TICKET_ACK (RFC 5723)
	NotifyTicketNack                      NotifyType = 16412 // TICKET_NACK (RFC 5723)
	NotifyTicketOpaque                    NotifyType = 16413 // TICKET_OPAQUE (RFC 5723)
	NotifyLinkID                          NotifyType = 16414 // LINK_ID (RFC 5739)
	NotifyUseWESPMode                     NotifyType = 16415 // USE_WESP_MODE (RFC 5840)
	NotifyROHCSupported                   NotifyType = 16416 // ROHC_SUPPORTED (RFC 5857)
	NotifyEAPOnlyAuthentication           NotifyType = 16417 // EAP_ONLY_AUTHENTICATION (RFC 5998)
	NotifyChildlessIKEv2Supported         NotifyType = 16418 // CHILDLESS_IKEV2_SUPPORTED (RFC 6023)
	NotifyQuickCrashDetection             NotifyType = 16419 // QUICK_CRASH_DETECTION (RFC 6290)
	NotifyIKEv2MessageIDSyncSupported     NotifyType = 16420 // IKEV2_MESSAGE_ID_SYNC_SUPPORTED (RFC 6311)
	NotifyIPsecReplayCounterSyncSupported NotifyType = 16421 // IPSEC_REPLAY_COUNTER_SYNC_SUPPORTED (RFC 6311)
	NotifyIKEv2MessageIDSync              NotifyType = 16422 // IKEV2_MESSAGE_ID_SYNC (RFC 6311)
	NotifyIPsecReplayCounterSync          NotifyType = 16423 // IPSEC_REPLAY_COUNTER_SYNC (RFC 6311)
	NotifySecurePasswordMethods           NotifyType = 16424 // SECURE_PASSWORD_METHODS (RFC 6467)
	NotifyPSKPersist                      NotifyType = 16425 // PSK_PERSIST (RFC 6631)
	NotifyPSKConfirm                      NotifyType = 16426 // PSK_CONFIRM (RFC 6631)
	NotifyERXSupported                    NotifyType = 16427 // ERX_SUPPORTED (RFC 6867)
	NotifyIFOMCapability                  NotifyType = 16428 // IFOM_CAPABILITY
	NotifySenderRequestID                 NotifyType = 16429 // SENDER_REQUEST_ID
	NotifyFragmentationSupported          NotifyType = 16430 // IKEV2_FRAGMENTATION_SUPPORTED (RFC 7383)
	NotifySignatureHashAlgorithms         NotifyType = 16431 // SIGNATURE_HASH_ALGORITHMS (RFC 7427); data: 2-octet hash IDs
	NotifyCloneIKESASupported             NotifyType = 16432 // CLONE_IKE_SA_SUPPORTED (RFC 7791)
	NotifyCloneIKESA                      NotifyType = 16433 // CLONE_IKE_SA (RFC 7791)
	NotifyPuzzle                          NotifyType = 16434 // PUZZLE (RFC 8019)
	NotifyUsePPK                          NotifyType = 16435 // USE_PPK (RFC 8784)
	NotifyPPKIdentity                     NotifyType = 16436 // PPK_IDENTITY (RFC 8784)
	NotifyNoPPKAuth                       NotifyType = 16437 // NO_PPK_AUTH (RFC 8784)
	NotifyIntermediateExchangeSupported   NotifyType = 16438 // INTERMEDIATE_EXCHANGE_SUPPORTED (RFC 9242)
	NotifyIP4Allowed                      NotifyType = 16439 // IP4_ALLOWED (RFC 8983)
	NotifyIP6Allowed                      NotifyType = 16440 // IP6_ALLOWED (RFC 8983)
	NotifyAdditionalKeyExchange           NotifyType = 16441 // ADDITIONAL_KEY_EXCHANGE (RFC 9370)
	NotifyUseAggfrag                      NotifyType = 16442 // USE_AGGFRAG (RFC 9347)
	NotifySupportedAuthMethods            NotifyType = 16443 // SUPPORTED_AUTH_METHODS (RFC 9593)

	notifyStatusMin NotifyType = 16384 // first status type
)

var notifyNames = map[NotifyType]string{
	NotifyUnsupportedCriticalPayload:      "UNSUPPORTED_CRITICAL_PAYLOAD",
	NotifyInvalidIKESPI:                   "INVALID_IKE_SPI",
	NotifyInvalidMajorVersion:             "INVALID_MAJOR_VERSION",
	NotifyInvalidSyntax:                   "INVALID_SYNTAX",
	NotifyInvalidMessageID:                "INVALID_MESSAGE_ID",
	NotifyInvalidSPI:                      "INVALID_SPI",
	NotifyNoProposalChosen:                "NO_PROPOSAL_CHOSEN",
	NotifyInvalidKEPayload:                "INVALID_KE_PAYLOAD",
	NotifyAuthenticationFailed:            "AUTHENTICATION_FAILED",
	NotifySinglePairRequired:              "SINGLE_PAIR_REQUIRED",
	NotifyNoAdditionalSAs:                 "NO_ADDITIONAL_SAS",
	NotifyInternalAddressFailure:          "INTERNAL_ADDRESS_FAILURE",
	NotifyFailedCPRequired:                "FAILED_CP_REQUIRED",
	NotifyTSUnacceptable:                  "TS_UNACCEPTABLE",
	NotifyInvalidSelectors:                "INVALID_SELECTORS",
	NotifyUnacceptableAddresses:           "UNACCEPTABLE_ADDRESSES",
	NotifyUnexpectedNATDetected:           "UNEXPECTED_NAT_DETECTED",
	NotifyUseAssignedHoA:                  "USE_ASSIGNED_HoA",
	NotifyTemporaryFailure:                "TEMPORARY_FAILURE",
	NotifyChildSANotFound:                 "CHILD_SA_NOT_FOUND",
	NotifyInvalidGroupID:                  "INVALID_GROUP_ID",
	NotifyAuthorizationFailed:             "AUTHORIZATION_FAILED",
	NotifyStateNotFound:                   "STATE_NOT_FOUND",
	NotifyInitialContact:                  "INITIAL_CONTACT",
	NotifySetWindowSize:                   "SET_WINDOW_SIZE",
	NotifyAdditionalTSPossible:            "ADDITIONAL_TS_POSSIBLE",
	NotifyIPCompSupported:                 "IPCOMP_SUPPORTED",
	NotifyNATDetectionSourceIP:            "NAT_DETECTION_SOURCE_IP",
	NotifyNATDetectionDestinationIP:       "NAT_DETECTION_DESTINATION_IP",
	NotifyCookie:                          "COOKIE",
	NotifyUseTransportMode:                "USE_TRANSPORT_MODE",
	NotifyHTTPCertLookupSupported:         "HTTP_CERT_LOOKUP_SUPPORTED",
	NotifyRekeySA:                         "REKEY_SA",
	NotifyESPTFCPaddingNotSupported:       "ESP_TFC_PADDING_NOT_SUPPORTED",
	NotifyNonFirstFragmentsAlso:           "NON_FIRST_FRAGMENTS_ALSO",
	NotifyMOBIKESupported:                 "MOBIKE_SUPPORTED",
	NotifyAdditionalIP4Address:            "ADDITIONAL_IP4_ADDRESS",
	NotifyAdditionalIP6Address:            "ADDITIONAL_IP6_ADDRESS",
	NotifyNoAdditionalAddresses:           "NO_ADDITIONAL_ADDRESSES",
	NotifyUpdateSAAddresses:               "UPDATE_SA_ADDRESSES",
	NotifyCookie2:                         "COOKIE2",
	NotifyNoNATsAllowed:                   "NO_NATS_ALLOWED",
	NotifyAuthLifetime:                    "AUTH_LIFETIME",
	NotifyMultipleAuthSupported:           "MULTIPLE_AUTH_SUPPORTED",
	NotifyAnotherAuthFollows:              "ANOTHER_AUTH_FOLLOWS",
	NotifyRedirectSupported:               "REDIRECT_SUPPORTED",
	NotifyRedirect:                        "REDIRECT",
	NotifyRedirectedFrom:                  "REDIRECTED_FROM",
	NotifyTicketLTOpaque:                  "TICKET_LT_OPAQUE",
	NotifyTicketRequest:                   "TICKET_REQUEST",
	NotifyTicketAck:                       "TICKET_ACK",
	NotifyTicketNack:                      "TICKET_NACK",
	NotifyTicketOpaque:                    "TICKET_OPAQUE",
	NotifyLinkID:                          "LINK_ID",
	NotifyUseWESPMode:                     "USE_WESP_MODE",
	NotifyROHCSupported:                   "ROHC_SUPPORTED",
	NotifyEAPOnlyAuthentication:           "EAP_ONLY_AUTHENTICATION",
	NotifyChildlessIKEv2Supported:         "CHILDLESS_IKEV2_SUPPORTED",
	NotifyQuickCrashDetection:             "QUICK_CRASH_DETECTION",
	NotifyIKEv2MessageIDSyncSupported:     "IKEV2_MESSAGE_ID_SYNC_SUPPORTED",
	NotifyIPsecReplayCounterSyncSupported: "IPSEC_REPLAY_COUNTER_SYNC_SUPPORTED",
	NotifyIKEv2MessageIDSync:              "IKEV2_MESSAGE_ID_SYNC",
	NotifyIPsecReplayCounterSync:          "IPSEC_REPLAY_COUNTER_SYNC",
	NotifySecurePasswordMethods:           "SECURE_PASSWORD_METHODS",
	NotifyPSKPersist:                      "PSK_PERSIST",
	NotifyPSKConfirm:                      "PSK_CONFIRM",
	NotifyERXSupported:                    "ERX_SUPPORTED",
	NotifyIFOMCapability:                  "IFOM_CAPABILITY",
	NotifySenderRequestID:                 "SENDER_REQUEST_ID",
	NotifyFragmentationSupported:          "IKEV2_FRAGMENTATION_SUPPORTED",
	NotifySignatureHashAlgorithms:         "SIGNATURE_HASH_ALGORITHMS",
	NotifyCloneIKESASupported:             "CLONE_IKE_SA_SUPPORTED",
	NotifyCloneIKESA:                      "CLONE_IKE_SA",
	NotifyPuzzle:                          "PUZZLE",
	NotifyUsePPK:                          "USE_PPK",
	NotifyPPKIdentity:                     "PPK_IDENTITY",
	NotifyNoPPKAuth:                       "NO_PPK_AUTH",
	NotifyIntermediateExchangeSupported:   "INTERMEDIATE_EXCHANGE_SUPPORTED",
	NotifyIP4Allowed:                      "IP4_ALLOWED",
	NotifyIP6Allowed:                      "IP6_ALLOWED",
	NotifyAdditionalKeyExchange:           "ADDITIONAL_KEY_EXCHANGE",
	NotifyUseAggfrag:                      "USE_AGGFRAG",
	NotifySupportedAuthMethods:            "SUPPORTED_AUTH_METHODS",
}

// String returns the RFC name of the notify type ("NO_PROPOSAL_CHOSEN"), or
// "NOTIFY(n)" for types without a name here.
func (t NotifyType) String() string {
	if s, ok := notifyNames[t]; ok {
		return s
	}
	return "NOTIFY(" + strconv.Itoa(int(t)) + ")"
}

// IsError reports whether t is in the error range (below 16384). RFC 7296
// §3.10.1: an unrecognised error type in a response means the request
// failed; an unrecognised status type is ignored.
func (t NotifyType) IsError() bool { return t < notifyStatusMin }
