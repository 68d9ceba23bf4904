package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Sentinel errors for errors.Is on an *Error.
var (
	// ErrNotFound matches an *Error with HTTP status 404.
	ErrNotFound = errors.New("client: not found")
	// ErrPreconditionFailed matches an *Error with HTTP status 412: an
	// If-Match or If-None-Match condition did not hold (someone else changed
	// the resource since it was read).
	ErrPreconditionFailed = errors.New("client: precondition failed")
	// ErrConflict matches an *Error with HTTP status 409.
	ErrConflict = errors.New("client: conflict")
	// ErrOperationFailed matches an *Error that reports a long-running
	// operation that ended Failed or Canceled.
	ErrOperationFailed = errors.New("client: operation failed")
)

// Error is an error answered by the API, in ARM's shape
//
//	{"error":{"code":"...","message":"...","target":"...","details":[...]}}
//
// or the error of a long-running operation that ended Failed or Canceled.
type Error struct {
	// StatusCode is the HTTP status of the response that carried the error.
	// For a failed long-running operation it is the status of the poll
	// response (usually 200) and OperationStatus is set.
	StatusCode int `json:"-"`
	// Code is ARM's stable error code, e.g. "ResourceNotFound".
	Code string `json:"code"`
	// Message says what is wrong.
	Message string `json:"message"`
	// Target names the offending field or resource, if any.
	Target string `json:"target,omitempty"`
	// Details lists further errors, if any.
	Details []Error `json:"details,omitempty"`
	// OperationStatus is "Failed" or "Canceled" when the error ended a
	// long-running operation; empty for an error answered directly.
	OperationStatus string `json:"-"`
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.OperationStatus != "" {
		fmt.Fprintf(&b, "operation %s: ", strings.ToLower(e.OperationStatus))
	}
	b.WriteString(e.Code)
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Target != "" {
		b.WriteString(" (target ")
		b.WriteString(e.Target)
		b.WriteString(")")
	}
	if e.StatusCode != 0 && e.OperationStatus == "" {
		fmt.Fprintf(&b, " [HTTP %d]", e.StatusCode)
	}
	return b.String()
}

// Is reports whether e matches one of the package's sentinel errors.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound && e.OperationStatus == ""
	case ErrPreconditionFailed:
		return e.StatusCode == http.StatusPreconditionFailed && e.OperationStatus == ""
	case ErrConflict:
		return e.StatusCode == http.StatusConflict && e.OperationStatus == ""
	case ErrOperationFailed:
		return e.OperationStatus != ""
	}
	return false
}

// AsError returns err as *Error if it is one or wraps one.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// decodeError turns an error response into *Error. Bodies that are not ARM
// errors (a proxy's HTML page, plain text) keep their first line as message.
func decodeError(status int, body []byte) *Error {
	var env struct {
		Error *Error `json:"error"`
	}
	if json.Unmarshal(body, &env) == nil && env.Error != nil && env.Error.Code != "" {
		env.Error.StatusCode = status
		return env.Error
	}
	// Some services answer the error object without the envelope.
	var bare Error
	if json.Unmarshal(body, &bare) == nil && bare.Code != "" {
		bare.StatusCode = status
		return &bare
	}
	msg := strings.TrimSpace(string(body))
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	return &Error{StatusCode: status, Code: strings.ReplaceAll(http.StatusText(status), " ", ""), Message: msg}
}
