package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/vpngw/vpngw/internal/resource"
	"github.com/vpngw/vpngw/internal/store"
)

// Error codes the API uses besides those of package resource. Codes that
// ARM uses keep ARM's spelling.
const (
	// CodeAnotherOperationInProgress: 409, the resource's own operation has
	// not finished.
	CodeAnotherOperationInProgress = "AnotherOperationInProgress"
	// CodeResourceGroupBeingDeleted: 409, a write into a group whose delete
	// is in progress.
	CodeResourceGroupBeingDeleted = "ResourceGroupBeingDeleted"
	// CodePathNotFound: 404, no route serves the path.
	CodePathNotFound = "PathNotFound"
	// CodePoolExhausted: 409, no free address of the requested family in
	// the public IP pool.
	CodePoolExhausted = "PublicIPAddressPoolExhausted"
	// CodeRequestTooLarge: 413, the request body exceeds maxBodyBytes.
	CodeRequestTooLarge = "RequestEntityTooLarge"
	// CodeReferencedBeingDeleted: 409, a new reference to a resource whose
	// delete is in progress.
	CodeReferencedBeingDeleted = "ReferencedResourceBeingDeleted"
)

// errorBody is ARM's error response: {"error":{...}}.
type errorBody struct {
	// Error is the error.
	Error *resource.Error `json:"error"`
}

// apiError converts any error to the *resource.Error the client sees and
// reports whether it is an internal one (500, details withheld).
func apiError(err error) (*resource.Error, bool) {
	if e, ok := resource.AsError(err); ok {
		return e, false
	}
	switch {
	case errors.Is(err, store.ErrConflict):
		return resource.Errorf(resource.CodeConflict, "",
			"The resource was changed concurrently; retry the request.").WithStatus(http.StatusConflict), false
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return resource.Errorf(resource.CodeInternal, "",
			"The request was canceled or timed out before it completed.").WithStatus(http.StatusServiceUnavailable), true
	}
	return resource.Errorf(resource.CodeInternal, "",
		"An internal error occurred; the server log has the details.").WithStatus(http.StatusInternalServerError), true
}

// errorf is a shorthand for resource.Errorf(...).WithStatus(status).
func errorf(status int, code, target, format string, args ...any) *resource.Error {
	return resource.Errorf(code, target, format, args...).WithStatus(status)
}

func errBusy(id resource.ID) *resource.Error {
	return errorf(http.StatusConflict, CodeAnotherOperationInProgress, "",
		"Operation on '%s' cannot proceed: another operation on the resource is in progress.", id.String())
}

// internalf wraps an unexpected condition; its text reaches only the log.
func internalf(format string, args ...any) error {
	return fmt.Errorf("api: "+format, args...)
}
