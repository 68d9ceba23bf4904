// Package portal is vpngw's web UI, served by `vpngw serve` at / beside the
// ARM API (docs/portal.md).
//
// Pages are rendered on the server with html/template from what the ARM API
// answers: every read goes in-process through the API's own http.Handler
// (read.go), so a page shows exactly what a GET shows, secrets redacted.
// The portal has no write path of its own: it serves only GET and HEAD on
// / and /portal/..., and every other request — every write — goes to the
// API handler unchanged. The forms and buttons are driven by a small
// embedded script (static/app.js) that sends ARM requests with
// Content-Type application/json and the api-version, follows long-running
// operations through Azure-AsyncOperation, and shows an ARM error's message
// on the input its target names. `vpngw serve` puts the portal behind the
// same api.Guard as the API (Host allowlist, Origin, JSON-only writes).
//
// Everything the browser loads is embedded (templates, CSS, JS); the pages
// carry a Content-Security-Policy that allows only this origin's scripts
// and styles.
package portal

import (
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"

	"github.com/vpngw/vpngw/internal/client"
	"github.com/vpngw/vpngw/internal/resource"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Prefix is the path under which the portal's pages and assets live; the
// home page is / itself.
const Prefix = "/portal/"

// SignInPath is the portal's sign-in page (GET) and its sign-in request
// (POST, JSON), which `vpngw serve` lets through without a token.
const SignInPath = Prefix + "signin"

// csp is the Content-Security-Policy of every portal response: scripts,
// styles and fetches from this origin only, no framing.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"form-action 'none'; frame-ancestors 'none'; base-uri 'none'"

// Config configures a Portal.
type Config struct {
	// API is the ARM API handler (api.Server): the portal reads through it
	// and hands it every request that is not a portal GET. Required.
	API http.Handler
	// Subscription is the subscription the portal shows;
	// resource.DefaultSubscription when empty.
	Subscription string
	// APIVersion is the api-version of the portal's requests;
	// client.DefaultAPIVersion when empty.
	APIVersion string
	// Logger receives rendering failures; nil is silent.
	Logger *slog.Logger
}

// Portal is the web UI. It is an http.Handler for the whole API listener:
// portal pages itself, everything else to Config.API.
type Portal struct {
	// api is Config.API.
	api http.Handler
	// sub and apiVersion are Config's, defaults applied.
	sub, apiVersion string
	// log is never nil.
	log *slog.Logger
	// pages are the parsed page templates by file name, each with the
	// layout.
	pages map[string]*template.Template
	// mux routes the portal's own GET paths.
	mux *http.ServeMux
}

// New returns a Portal in front of cfg.API.
func New(cfg Config) (*Portal, error) {
	if cfg.API == nil {
		return nil, fmt.Errorf("portal: Config.API is required")
	}
	p := &Portal{api: cfg.API, sub: cfg.Subscription, apiVersion: cfg.APIVersion, log: cfg.Logger}
	if p.sub == "" {
		p.sub = resource.DefaultSubscription
	}
	if p.apiVersion == "" {
		p.apiVersion = client.DefaultAPIVersion
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if err := p.parseTemplates(); err != nil {
		return nil, err
	}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, fmt.Errorf("portal: %w", err)
	}
	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", p.page(p.home))
	m.Handle("GET "+Prefix+"static/", http.StripPrefix(Prefix+"static/", http.FileServerFS(static)))
	m.HandleFunc("GET "+SignInPath, p.page(func(*http.Request) (view, error) { return view{tmpl: "signin.html", title: "Sign in"}, nil }))
	m.HandleFunc("GET "+Prefix+"topology", p.page(p.topology))
	m.HandleFunc("GET "+Prefix+"topology.svg", p.topologySVG)
	m.HandleFunc("GET "+Prefix+"rg/{group}", p.page(p.group))
	m.HandleFunc("GET "+Prefix+"rg/{group}/gateways/new", p.page(p.newGateway))
	m.HandleFunc("GET "+Prefix+"rg/{group}/gateways/{name}", p.page(p.gateway))
	m.HandleFunc("GET "+Prefix+"rg/{group}/connections", p.page(p.connections))
	m.HandleFunc("GET "+Prefix+"rg/{group}/connections/{name}", p.page(p.connection))
	p.mux = m
	return p, nil
}

// ServeHTTP serves GET and HEAD of / and /portal/... itself and hands
// every other request to the API.
func (p *Portal) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if (r.Method == http.MethodGet || r.Method == http.MethodHead) &&
		(r.URL.Path == "/" || strings.HasPrefix(r.URL.Path, Prefix)) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		p.mux.ServeHTTP(w, r)
		return
	}
	p.api.ServeHTTP(w, r)
}

// templateFuncs are the template functions.
func templateFuncs() template.FuncMap {
	return template.FuncMap{
		"base":  lastSegment,
		"join":  strings.Join,
		"bytes": formatBytes,
		"bps":   formatBitRate,
		"group": groupOf,
		"lineY": func(i int) int { return 44 + 18*i },
		"list":  func(c resource.Connection) []resource.Connection { return []resource.Connection{c} },
		"nameloc": func(prefix, location string) nameLocation {
			return nameLocation{Prefix: prefix, Location: location}
		},
		"ctable": func(poll string, conns []resource.Connection) connTable {
			return connTable{Poll: poll, Conns: conns}
		},
	}
}

func (p *Portal) parseTemplates() error {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return fmt.Errorf("portal: %w", err)
	}
	p.pages = make(map[string]*template.Template)
	for _, n := range names {
		if strings.HasSuffix(n, "/layout.html") || strings.HasSuffix(n, "/partials.html") {
			continue
		}
		t, err := template.New("layout.html").Funcs(templateFuncs()).ParseFS(templateFS, "templates/layout.html", "templates/partials.html", n)
		if err != nil {
			return fmt.Errorf("portal: parsing %s: %w", n, err)
		}
		p.pages[strings.TrimPrefix(n, "templates/")] = t
	}
	return nil
}

// connTable is the data of the "conntable" template: connections with
// live status.
type connTable struct {
	// Poll is the ARM path the script polls for their status (a list or
	// one connection).
	Poll string
	// Conns are the connections.
	Conns []resource.Connection
}

// nameLocation is the data of the "nameloc" template: a create form's
// name and location fields.
type nameLocation struct {
	// Prefix prefixes the inputs' IDs; Location is the default location.
	Prefix, Location string
}

// lastSegment is the name at the end of a resource ID.
func lastSegment(id string) string {
	return id[strings.LastIndexByte(id, '/')+1:]
}

func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func formatBitRate(bps int64) string {
	switch {
	case bps >= 1_000_000_000:
		return fmt.Sprintf("%g Gbit/s", float64(bps)/1e9)
	case bps >= 1_000_000:
		return fmt.Sprintf("%g Mbit/s", float64(bps)/1e6)
	}
	return fmt.Sprintf("%d bit/s", bps)
}
