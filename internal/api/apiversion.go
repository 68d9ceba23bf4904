package api

import (
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/vpngw/vpngw/internal/armerr"
)

// MinAPIVersion is the oldest api-version served. Any later date is accepted:
// the served shapes are a superset of ARM's Microsoft.Network 2018-08-01 and
// newer versions, and unknown properties are rejected rather than ignored.
const MinAPIVersion = "2018-08-01"

// apiVersionRE is compiled on first use, not at every start of the binary.
var apiVersionRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(\d{4}-\d{2}-\d{2})(-preview)?$`) })

// checkAPIVersion validates the api-version query parameter, min or
// later, and returns it.
func checkAPIVersion(r *http.Request, min string) (string, error) {
	vals, ok := r.URL.Query()["api-version"]
	if !ok || len(vals) == 0 || vals[0] == "" {
		return "", errorf(http.StatusBadRequest, armerr.CodeMissingAPIVersion, "api-version",
			"The api-version query parameter (?api-version=) is required for all requests. Supported versions: %s and later (YYYY-MM-DD, optionally with -preview).", min)
	}
	v := vals[0]
	bad := func() (string, error) {
		return "", errorf(http.StatusBadRequest, armerr.CodeInvalidAPIVersion, "api-version",
			"The api-version '%s' is invalid. The supported versions are %s and later, in the form YYYY-MM-DD or YYYY-MM-DD-preview.", v, min)
	}
	if len(vals) > 1 {
		return bad()
	}
	m := apiVersionRE().FindStringSubmatch(v)
	if m == nil {
		return bad()
	}
	if _, err := time.Parse(time.DateOnly, m[1]); err != nil {
		return bad()
	}
	if strings.Compare(m[1], min) < 0 {
		return bad()
	}
	return v, nil
}
