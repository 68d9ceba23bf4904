package armerr

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestWrite(t *testing.T) {
	rec := httptest.NewRecorder()
	Write(rec, Errorf(CodeInvalidParameter, "properties.sku.name", "SKU <%s> is unknown.", "x"))
	if rec.Code != http.StatusBadRequest {
		t.Errorf("status = %d, want 400 (the default)", rec.Code)
	}
	want := `{"error":{"code":"InvalidParameter","message":"SKU <x> is unknown.","target":"properties.sku.name"}}` + "\n"
	if got := rec.Body.String(); got != want {
		t.Errorf("body = %s, want %s", got, want)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	e, ok := AsError(fmt.Errorf("wrapped: %w", Internal()))
	if !ok || e.HTTPStatus() != http.StatusInternalServerError || e.Code != CodeInternal {
		t.Errorf("AsError(wrapped Internal()) = %+v, %v", e, ok)
	}
}
