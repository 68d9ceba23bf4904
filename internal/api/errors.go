package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/vpngw/vpngw/internal/armerr"
	"github.com/vpngw/vpngw/internal/resource"
	"github.com/vpngw/vpngw/internal/store"
)

// errorBody is ARM's error response, armerr.Body, under the schema name
// /openapi.json has always given it.
type errorBody armerr.Body

// apiError converts any error to the *armerr.Error the client sees and
// reports whether it is an internal one (500, details withheld).
func apiError(err error) (*armerr.Error, bool) {
	if e, ok := armerr.AsError(err); ok {
		return e, false
	}
	switch {
	case errors.Is(err, store.ErrConflict):
		return armerr.Errorf(armerr.CodeConflict, "",
			"The resource was changed concurrently; retry the request.").WithStatus(http.StatusConflict), false
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return armerr.Errorf(armerr.CodeInternal, "",
			"The request was canceled or timed out before it completed.").WithStatus(http.StatusServiceUnavailable), true
	}
	return armerr.Internal(), true
}

// errorf is a shorthand for armerr.Errorf(...).WithStatus(status).
func errorf(status int, code, target, format string, args ...any) *armerr.Error {
	return armerr.Errorf(code, target, format, args...).WithStatus(status)
}

func errBusy(id resource.ID) *armerr.Error {
	return errorf(http.StatusConflict, armerr.CodeAnotherOperationInProgress, "",
		"Operation on '%s' cannot proceed: another operation on the resource is in progress.", id.String())
}

// internalf wraps an unexpected condition; its text reaches only the log.
func internalf(format string, args ...any) error {
	return fmt.Errorf("api: "+format, args...)
}
