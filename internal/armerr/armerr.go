// Package armerr is the error of the ARM-shaped HTTP APIs (the resource
// API and the lab's API): one type, its stable codes, and one writer.
//
//	{"error":{"code":"...","message":"...","target":"...","details":[...]}}
//
// It imports nothing of vpngw, so that the lab can answer in the API's shape
// without importing the resource model; package resource re-exports the
// type and the codes its rules use.
package armerr

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Error is an API error in ARM's shape:
//
//	{"error":{"code":"...","message":"...","target":"...","details":[...]}}
//
// Code is stable (scripts branch on it); Message says what is wrong and which
// rule was broken; Target names the offending field as a JSON path such as
// "properties.ipConfigurations[0].properties.subnet.id".
type Error struct {
	Code    string  `json:"code"`
	Message string  `json:"message"`
	Target  string  `json:"target,omitempty"`
	Details []Error `json:"details,omitempty"`
	// Status is the HTTP status the API answers with; not serialized.
	Status int `json:"-"`
}

func (e *Error) Error() string {
	if e.Target != "" {
		return fmt.Sprintf("%s: %s (target %s)", e.Code, e.Message, e.Target)
	}
	return e.Code + ": " + e.Message
}

// HTTPStatus is the status code the API returns for e (400 when unset).
func (e *Error) HTTPStatus() int {
	if e.Status == 0 {
		return http.StatusBadRequest
	}
	return e.Status
}

// Stable error codes. Codes that Azure uses keep Azure's spelling.
const (
	CodeInvalidRequestContent = "InvalidRequestContent"    // malformed JSON, unknown property
	CodeInvalidParameter      = "InvalidParameter"         // a field's value breaks a rule
	CodeMissingParameter      = "MissingRequiredParameter" // a required field is absent
	CodeInvalidResourceID     = "InvalidResourceId"
	CodeInvalidResourceName   = "InvalidResourceName"
	CodeInvalidResourceType   = "InvalidResourceType"
	CodeInvalidAPIVersion     = "InvalidApiVersionParameter"
	CodeMissingAPIVersion     = "MissingApiVersionParameter"
	CodeResourceNotFound      = "ResourceNotFound"
	CodeResourceGroupNotFound = "ResourceGroupNotFound"
	CodeReferencedNotFound    = "ReferencedResourceNotFound" // a referenced resource does not exist
	CodeInUse                 = "InUseCannotDelete"          // 409: still referenced
	CodeConflict              = "Conflict"                   // 409: concurrent change, operation in progress
	CodePreconditionFailed    = "PreconditionFailed"         // 412: If-Match / If-None-Match
	CodeImmutableProperty     = "PropertyChangeNotAllowed"   // vpnType, gatewayType, connectionProtocol, ...
	CodeLimitExceeded         = "LimitExceeded"              // SKU/tunnel/prefix counts
	CodeAddressOverlap        = "AddressSpaceOverlap"
	CodeGatewaySubnet         = "GatewaySubnetInvalid"
	CodeInvalidGatewaySku     = "InvalidGatewaySku"
	CodeResizeNotSupported    = "CrossSeriesOrCrossGatewayGenenrationResizeNotSupported" // sic, as Azure
	CodePolicyBasedLimit      = "PolicyBasedGatewayNotSupported"
	CodeBgpNotSupported       = "BgpNotSupported"
	CodeActiveActiveInvalid   = "ActiveActiveGatewayInvalid"
	CodeInvalidAsn            = "InvalidAsn"
	CodeInvalidSharedKey      = "InvalidSharedKey"
	CodeInvalidIpsecPolicy    = "InvalidIpsecPolicy"
	CodeMethodNotAllowed      = "MethodNotAllowed"
	CodeInternal              = "InternalServerError"
	CodeOperationNotFound     = "OperationNotFound"

	// Codes added with the resource rules (docs/resources.md lists every
	// rule that uses each of them).
	CodeInvalidCIDR               = "InvalidCIDRNotation"                         // a prefix is not a canonical CIDR
	CodeSubnetOutsideVnet         = "NetcfgSubnetRangeOutsideVnet"                // a subnet is not inside the VNet's address space
	CodeInUseCannotUpdate         = "InUseCannotUpdate"                           // a resource in use cannot change that property
	CodePublicIPBasicSku          = "PublicIpWithBasicSkuNotAllowedOnVPNGateways" // as Azure
	CodeLocationMismatch          = "ResourceLocationMismatch"                    // gateway, VNet and public IP in different locations
	CodeInvalidLocation           = "InvalidResourceLocation"                     // location missing, or changed on update
	CodeUnsupportedConnection     = "ConnectionTypeNotSupported"                  // ExpressRoute / VPNClient connections
	CodeVpnClientConfiguration    = "VpnClientConfigurationInvalid"               // point-to-site settings
	CodeVpnClientPackageNotFound  = "VpnClientPackageNotFound"                    // getvpnprofilepackageurl before any generatevpnprofile
	CodeInvalidTag                = "InvalidTag"                                  // tag count or length
	CodeInvalidTrafficSelector    = "InvalidTrafficSelectorPolicy"                // trafficSelectorPolicies
	CodeGatewayPerVnetLimit       = "VirtualNetworkGatewayPerVnetLimitReached"    // a second Vpn (or ExpressRoute) gateway in a VNet
	CodeInvalidPublicIPAddress    = "InvalidPublicIPAddress"                      // public IP unusable for a gateway
	CodeInvalidLocalNetworkGw     = "InvalidLocalNetworkGateway"                  // local network gateway addressing
	CodeInvalidConnectionTopology = "InvalidConnectionTopology"                   // wrong peers for the connection type
)

// Codes of the API's own (routing, operations, the public IP pool, the
// request body). Codes that ARM uses keep ARM's spelling.
const (
	// CodeAnotherOperationInProgress: 409, the resource's own operation has
	// not finished.
	CodeAnotherOperationInProgress = "AnotherOperationInProgress"
	// CodeResourceGroupBeingDeleted: 409, a write into a group whose delete
	// is in progress.
	CodeResourceGroupBeingDeleted = "ResourceGroupBeingDeleted"
	// CodeInvalidSubscriptionID: 400, the subscription in the path is not
	// a valid ID.
	CodeInvalidSubscriptionID = "InvalidSubscriptionId"
	// CodePathNotFound: 404, no route serves the path.
	CodePathNotFound = "PathNotFound"
	// CodePoolExhausted: 409, no free address of the requested family in
	// the public IP pool.
	CodePoolExhausted = "PublicIPAddressPoolExhausted"
	// CodeRequestTooLarge: 413, the request body exceeds the API's limit.
	CodeRequestTooLarge = "RequestEntityTooLarge"
	// CodeReferencedBeingDeleted: 409, a new reference to a resource whose
	// delete is in progress.
	CodeReferencedBeingDeleted = "ReferencedResourceBeingDeleted"
	// CodeInvalidHost: 400, the request's Host header is not a name the
	// server was configured to answer to (DNS rebinding).
	CodeInvalidHost = "InvalidHost"
	// CodeUnsupportedMediaType: 415, a PUT, POST or PATCH without
	// Content-Type application/json.
	CodeUnsupportedMediaType = "UnsupportedMediaType"
	// CodeCrossOriginRequest: 403, the request's Origin is not the
	// server's own (cross-site request forgery).
	CodeCrossOriginRequest = "CrossOriginRequestRefused"

	// 401: a request without a valid access token (package identity), as
	// Azure Resource Manager answers it.
	CodeAuthenticationFailed = "AuthenticationFailed"               // no or malformed Authorization header
	CodeInvalidToken         = "InvalidAuthenticationToken"         // bad signature, malformed, unknown principal
	CodeExpiredToken         = "ExpiredAuthenticationToken"         // past its exp
	CodeInvalidTokenAudience = "InvalidAuthenticationTokenAudience" // for another resource
	CodeInvalidTokenIssuer   = "InvalidAuthenticationTokenTenant"   // from another issuer

	// 403: no role of the principal allows the action at the scope.
	CodeAuthorizationFailed = "AuthorizationFailed"
)

// Codes of provisioning failures: the error of an operation whose resource
// could not be realized (package reconcile).
const (
	CodeInstanceNotReady = "GatewayInstanceNotReady"
	CodeInstanceFailed   = "GatewayInstanceFailed"
	CodeNotRealizable    = "ResourceNotRealizable"
	CodeProviderFailed   = "InfrastructureFailed"
)

// Errorf returns a 400 Error with code, target and a formatted message.
func Errorf(code, target, format string, args ...any) *Error {
	return &Error{Code: code, Target: target, Message: fmt.Sprintf(format, args...)}
}

// WithStatus sets the HTTP status of e and returns e.
func (e *Error) WithStatus(status int) *Error { e.Status = status; return e }

// AsError returns err as *Error if it is one (or wraps one).
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// Body is ARM's error response: {"error":{...}}.
type Body struct {
	// Error is the error.
	Error *Error `json:"error"`
}

// Internal is the error a client sees for a failure whose details it must
// not see: 500 InternalServerError; the server logs the details.
func Internal() *Error {
	return Errorf(CodeInternal, "", "An internal error occurred; the server log has the details.").WithStatus(http.StatusInternalServerError)
}

// Write answers e in ARM's error shape with e's HTTP status.
func Write(w http.ResponseWriter, e *Error) { WriteJSON(w, e.HTTPStatus(), Body{Error: e}) }

// WriteJSON writes v as the JSON response body with status, without
// escaping HTML characters (ARM does not).
func WriteJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Our own types always encode; this is a bug.
		http.Error(w, `{"error":{"code":"InternalServerError","message":"response encoding failed"}}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}
