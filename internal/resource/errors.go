package resource

import (
	"github.com/vpngw/vpngw/internal/armerr"
	"github.com/vpngw/vpngw/internal/armjson"
)

// Error is the API's error in ARM's shape (package armerr, the one home of
// the type and its codes). Code is stable (scripts branch on it); Message
// says what is wrong and which rule was broken; Target names the offending
// field as a JSON path such as
// "properties.ipConfigurations[0].properties.subnet.id".
type Error = armerr.Error

// The codes the resource rules use, re-exported from armerr so that rule
// code reads Errorf(CodeInvalidParameter, ...); docs/resources.md lists
// every rule that uses each of them.
const (
	CodeInvalidRequestContent     = armerr.CodeInvalidRequestContent
	CodeInvalidParameter          = armerr.CodeInvalidParameter
	CodeMissingParameter          = armerr.CodeMissingParameter
	CodeInvalidResourceID         = armerr.CodeInvalidResourceID
	CodeInvalidResourceName       = armerr.CodeInvalidResourceName
	CodeInvalidResourceType       = armerr.CodeInvalidResourceType
	CodeInvalidAPIVersion         = armerr.CodeInvalidAPIVersion
	CodeMissingAPIVersion         = armerr.CodeMissingAPIVersion
	CodeResourceNotFound          = armerr.CodeResourceNotFound
	CodeResourceGroupNotFound     = armerr.CodeResourceGroupNotFound
	CodeReferencedNotFound        = armerr.CodeReferencedNotFound
	CodeInUse                     = armerr.CodeInUse
	CodeConflict                  = armerr.CodeConflict
	CodePreconditionFailed        = armerr.CodePreconditionFailed
	CodeImmutableProperty         = armerr.CodeImmutableProperty
	CodeLimitExceeded             = armerr.CodeLimitExceeded
	CodeAddressOverlap            = armerr.CodeAddressOverlap
	CodeGatewaySubnet             = armerr.CodeGatewaySubnet
	CodeInvalidGatewaySku         = armerr.CodeInvalidGatewaySku
	CodeResizeNotSupported        = armerr.CodeResizeNotSupported
	CodePolicyBasedLimit          = armerr.CodePolicyBasedLimit
	CodeBgpNotSupported           = armerr.CodeBgpNotSupported
	CodeActiveActiveInvalid       = armerr.CodeActiveActiveInvalid
	CodeInvalidAsn                = armerr.CodeInvalidAsn
	CodeInvalidSharedKey          = armerr.CodeInvalidSharedKey
	CodeInvalidIpsecPolicy        = armerr.CodeInvalidIpsecPolicy
	CodeMethodNotAllowed          = armerr.CodeMethodNotAllowed
	CodeInternal                  = armerr.CodeInternal
	CodeOperationNotFound         = armerr.CodeOperationNotFound
	CodeInvalidCIDR               = armerr.CodeInvalidCIDR
	CodeSubnetOutsideVnet         = armerr.CodeSubnetOutsideVnet
	CodeInUseCannotUpdate         = armerr.CodeInUseCannotUpdate
	CodePublicIPBasicSku          = armerr.CodePublicIPBasicSku
	CodeLocationMismatch          = armerr.CodeLocationMismatch
	CodeInvalidLocation           = armerr.CodeInvalidLocation
	CodeUnsupportedConnection     = armerr.CodeUnsupportedConnection
	CodeVpnClientConfiguration    = armerr.CodeVpnClientConfiguration
	CodeInvalidTag                = armerr.CodeInvalidTag
	CodeInvalidTrafficSelector    = armerr.CodeInvalidTrafficSelector
	CodeGatewayPerVnetLimit       = armerr.CodeGatewayPerVnetLimit
	CodeInvalidPublicIPAddress    = armerr.CodeInvalidPublicIPAddress
	CodeInvalidLocalNetworkGw     = armerr.CodeInvalidLocalNetworkGw
	CodeInvalidConnectionTopology = armerr.CodeInvalidConnectionTopology
)

// Errorf returns a 400 Error with code, target and a formatted message.
func Errorf(code, target, format string, args ...any) *Error {
	return armerr.Errorf(code, target, format, args...)
}

// AsError returns err as *Error if it is one (or wraps one).
func AsError(err error) (*Error, bool) { return armerr.AsError(err) }

// DecodeStrict decodes a JSON request body into v (a non-nil pointer) with
// armjson's rules: unknown properties, duplicate or case-variant keys,
// invalid UTF-8, NUL characters and type mismatches are refused with an
// InvalidRequestContent error naming the full JSON path.
func DecodeStrict(data []byte, v any) error { return armjson.Decode(data, v) }
