package cli

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"time"

	"github.com/vpngw/vpngw/internal/server"
	"github.com/vpngw/vpngw/internal/tlsca"
)

// caFileFor is the CA file the CLI trusts: flag, else $VPNGW_CA_FILE, else
// the CA of a server on this host with the default data directory when
// that file exists ("" when none: the system's roots only).
func caFileFor(e *env, flag string) string {
	if flag != "" {
		return flag
	}
	if f := e.getenv("VPNGW_CA_FILE"); f != "" {
		return f
	}
	dir, err := defaultDataDir(e)
	if err != nil {
		return ""
	}
	f := server.CAFile(dir)
	if _, err := os.Stat(f); errors.Is(err, fs.ErrNotExist) || err != nil {
		return ""
	}
	return f
}

// httpClient is the CLI's HTTP client: the system's roots plus the CA
// caFileFor names.
func httpClient(e *env, caFlag string) (*http.Client, error) {
	caFile := caFileFor(e, caFlag)
	pool, err := tlsca.Pool(caFile)
	if err != nil {
		return nil, fmt.Errorf("--ca-file: %w", err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr, Timeout: 2 * time.Minute}, nil
}
