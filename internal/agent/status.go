package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vpngw/vpngw/internal/agentapi"
)

// ServeStatus serves the agent's status as JSON on a Unix socket (GET
// /status, with StatusQuery's parameters), its Prometheus metrics (GET
// /metrics), heap and CPU profiles and an execution trace (GET
// /debug/pprof/heap, /debug/pprof/profile, /debug/pprof/trace) and
// operator actions until ctx ends. The socket is created mode 0660 and
// removed on exit. Status never contains keys.
func ServeStatus(ctx context.Context, a *Agent, socket string) error {
	if err := os.MkdirAll(filepath.Dir(socket), 0o755); err != nil {
		return err
	}
	_ = os.Remove(socket)
	ln, err := net.Listen("unix", socket)
	if err != nil {
		return fmt.Errorf("agent: status socket: %w", err)
	}
	_ = os.Chmod(socket, 0o660)
	mux := http.NewServeMux()
	mux.Handle("GET /status", statusHandler(a))
	mux.HandleFunc("POST /connections/{name}/initiate", func(w http.ResponseWriter, r *http.Request) {
		// ?wait=DURATION blocks until the connection is up and reports
		// the setup time measured by the agent.
		if ws := r.URL.Query().Get("wait"); ws != "" {
			d, err := time.ParseDuration(ws)
			if err != nil {
				http.Error(w, "bad wait duration", http.StatusBadRequest)
				return
			}
			ctx, cancel := context.WithTimeout(r.Context(), d)
			defer cancel()
			took, err := a.InitiateWait(ctx, r.PathValue("name"))
			if err != nil {
				http.Error(w, err.Error(), http.StatusGatewayTimeout)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]float64{"setupMs": float64(took.Microseconds()) / 1000})
			return
		}
		if err := a.Initiate(r.Context(), r.PathValue("name")); err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /connections/{name}/terminate", func(w http.ResponseWriter, r *http.Request) {
		if err := a.Terminate(r.Context(), r.PathValue("name")); err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.Handle("GET /metrics", metricsHandler(a))
	debugRoutes(mux)
	mux.HandleFunc("POST /connections/{name}/rekey", func(w http.ResponseWriter, r *http.Request) {
		if err := a.Rekey(r.Context(), r.PathValue("name"), r.URL.Query().Get("sa") == "ike"); err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	err = srv.Serve(ln)
	_ = os.Remove(socket)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// StatusQuery says which point-to-site clients a status lists; the zero
// value lists them all. PointToSiteStatus.ClientCount counts them whatever
// the query, so a summary of a gateway with 10,000 clients (NoClients)
// costs what its connections cost, not its clients.
//
// On the status socket it is GET /status?clients=none, or
// ?client=TERM&client=TERM2.
type StatusQuery struct {
	// NoClients leaves the client list out.
	NoClients bool
	// Clients, if not empty, lists only the clients that one of its terms
	// names: a client's name ("TEMPLATE/USER/VIRTUAL-IP"), its user name,
	// its virtual IP, its public IP address (or address:port), or its
	// session's vpnConnectionId ("IKEv2_" and its IKE SA's initiator SPI).
	Clients []string
}

// ErrStatusQuery is the error ParseStatusQuery wraps for a query it
// refuses.
var ErrStatusQuery = errors.New("bad status query")

// ParseStatusQuery reads a StatusQuery from GET /status's parameters. It
// refuses a parameter it does not know, a clients value other than all or
// none, an empty client term, and clients=none together with client.
func ParseStatusQuery(v url.Values) (StatusQuery, error) {
	var q StatusQuery
	for k, vals := range v {
		switch k {
		case "clients":
			if len(vals) != 1 || (vals[0] != "all" && vals[0] != "none") {
				return StatusQuery{}, fmt.Errorf("%w: clients=%s: want clients=all or clients=none, once", ErrStatusQuery, strings.Join(vals, ","))
			}
			q.NoClients = vals[0] == "none"
		case "client":
			for _, t := range vals {
				if t == "" {
					return StatusQuery{}, fmt.Errorf("%w: client=: want a client's name, user, virtual IP, public address or vpnConnectionId", ErrStatusQuery)
				}
			}
			q.Clients = vals
		default:
			return StatusQuery{}, fmt.Errorf("%w: unknown parameter %q (want clients or client)", ErrStatusQuery, k)
		}
	}
	if q.NoClients && len(q.Clients) > 0 {
		return StatusQuery{}, fmt.Errorf("%w: clients=none and client= together", ErrStatusQuery)
	}
	return q, nil
}

// values is q as GET /status's parameters.
func (q StatusQuery) values() url.Values {
	v := url.Values{}
	if q.NoClients {
		v.Set("clients", "none")
	}
	for _, t := range q.Clients {
		v.Add("client", t)
	}
	return v
}

// clientMatcher is a StatusQuery's client terms, addresses parsed once.
type clientMatcher struct {
	terms []string
	addrs []netip.Addr     // the terms that are IP addresses
	ports []netip.AddrPort // the terms that are address:port
}

func newClientMatcher(terms []string) *clientMatcher {
	if len(terms) == 0 {
		return nil
	}
	m := &clientMatcher{terms: terms}
	for _, t := range terms {
		if a, err := netip.ParseAddr(t); err == nil {
			m.addrs = append(m.addrs, a.Unmap())
		} else if ap, err := netip.ParseAddrPort(t); err == nil {
			m.ports = append(m.ports, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
		}
	}
	return m
}

// matches reports whether c is one of the clients m names (a nil m names
// them all).
func (m *clientMatcher) matches(c *ConnectionStatus) bool {
	if m == nil {
		return true
	}
	remote := netip.AddrPortFrom(c.Remote.Addr().Unmap(), c.Remote.Port())
	for _, a := range m.addrs {
		if remote.Addr() == a || c.Client != nil && c.Client.VirtualIP.Unmap() == a {
			return true
		}
	}
	for _, ap := range m.ports {
		if remote == ap {
			return true
		}
	}
	for _, t := range m.terms {
		if t == c.Name || c.Client != nil && t == c.Client.User {
			return true
		}
		if spi, ok := strings.CutPrefix(t, agentapi.VpnConnectionID("")); ok {
			for _, s := range c.IKE {
				if strings.EqualFold(s.SPIi, spi) {
					return true
				}
			}
		}
	}
	return false
}

// statusHandler serves GET /status: the status as compact JSON, its
// point-to-site clients as the query picks them (ParseStatusQuery; 400 and
// the reason for a query it refuses). Compact because at 10,000 clients
// indenting doubled the encoder's work; `vpngw agent --status -o json`
// indents what it prints.
func statusHandler(a *Agent) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q, err := ParseStatusQuery(r.URL.Query())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(a.StatusFor(q))
	})
}

// FetchStatus reads a running agent's status from its socket, its
// point-to-site clients as q picks them.
func FetchStatus(ctx context.Context, socket string, q StatusQuery) (Status, error) {
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", socket)
	}}}
	u := "http://agent/status"
	if v := q.values(); len(v) > 0 {
		u += "?" + v.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return Status{}, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return Status{}, fmt.Errorf("agent: no agent answers on %s: %w", socket, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		msg := strings.TrimSpace(string(b))
		if resp.StatusCode == http.StatusBadRequest {
			if rest, ok := strings.CutPrefix(msg, ErrStatusQuery.Error()); ok {
				return Status{}, fmt.Errorf("agent: status from %s: %w%s", socket, ErrStatusQuery, rest)
			}
		}
		return Status{}, fmt.Errorf("agent: status from %s: %s: %s", socket, resp.Status, msg)
	}
	var st Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return Status{}, fmt.Errorf("agent: bad status from %s: %w", socket, err)
	}
	return st, nil
}

// WriteStatus prints a status as tables: connections, then SAs, then
// point-to-site clients.
func WriteStatus(w io.Writer, st Status) {
	fmt.Fprintf(w, "Instance %s (%s), TUN %s, up %s\n\n", st.Name, st.LocalAddress, st.TUN, time.Since(st.Started).Round(time.Second))
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CONNECTION\tSTATUS\tREMOTE\tMODE\tINGRESS\tEGRESS\tOUTSIDE SELECTORS\tLAST ERROR")
	for _, c := range st.Connections {
		var outside uint64
		if c.Traffic != nil {
			outside = c.Traffic.DropPolicy
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n", c.Name, c.Status, c.Remote, c.Mode, c.IngressBytes, c.EgressBytes, outside, c.LastError)
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CONNECTION\tSA\tSPI IN/OUT\tSTATE\tALGORITHMS\tSELECTORS\tENCAP")
	for _, c := range st.Connections {
		for _, s := range c.IKE {
			role := "responder"
			if s.Initiator {
				role = "initiator"
			}
			fmt.Fprintf(tw, "%s\tIKE (%s)\t%s/%s\t%s\t%s\t%s <-> %s\t%v\n", c.Name, role, s.SPIi, s.SPIr, s.State, s.Suite, s.Local, s.Remote, s.Encap)
			for _, ch := range s.Children {
				out := ""
				if ch.Outbound {
					out = " (out)"
				}
				fmt.Fprintf(tw, "%s\tChild\t%s/%s\t%s%s\t%s\t%s <-> %s\t\n", c.Name, ch.InSPI, ch.OutSPI, ch.State, out, ch.Suite, ch.LocalTS, ch.RemoteTS)
			}
		}
	}
	tw.Flush()
	writeP2S(w, st.PointToSite)
	writeBGP(w, st.BGP)
	if st.Dataplane != nil {
		d := st.Dataplane
		fmt.Fprintf(w, "\nData plane: no-route %d, unknown SPI %d, malformed %d, IKE in/out %d/%d, keepalives %d\n",
			d.NoRoute, d.UnknownSPI, d.Malformed, d.IKEIn, d.IKEOut, d.Keepalives)
	}
}

// writeBGP prints the BGP section: the peers and the learned routes.
func writeBGP(w io.Writer, b *agentapi.BGPStatus) {
	if b == nil {
		return
	}
	fmt.Fprintf(w, "\nBGP: ASN %d, peering address %s, %d learned prefixes routed into tunnels\n", b.ASN, b.LocalAddress, b.Installed)
	if b.Error != "" {
		fmt.Fprintf(w, "BGP error: %s\n", b.Error)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BGP PEER\tASN\tCONNECTION\tSTATE\tCONNECTED\tROUTES RECEIVED\tMSGS SENT/RECEIVED\tREASON")
	for _, p := range b.Peers {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%d\t%d/%d\t%s\n", p.Neighbor, p.ASN, p.Connection, p.State, p.ConnectedDuration, p.RoutesReceived, p.MessagesSent, p.MessagesReceived, p.Reason)
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NETWORK\tNEXT HOP\tSOURCE PEER\tORIGIN\tAS PATH\tWEIGHT")
	for _, r := range b.LearnedRoutes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\n", r.Network, r.NextHop, r.SourcePeer, r.Origin, r.ASPath, r.Weight)
	}
	tw.Flush()
}

// writeP2S prints the point-to-site section: the pool and the clients.
func writeP2S(w io.Writer, p *PointToSiteStatus) {
	if p == nil {
		return
	}
	fmt.Fprintf(w, "\nPoint-to-site %s: pool %s, %d of %d addresses leased, %d clients\n", p.Name, strings.Join(p.AddressPool, ", "), p.LeasedAddresses, p.PoolSize, p.ClientCount)
	if p.LastError != "" {
		fmt.Fprintf(w, "Last refusal: %s\n", p.LastError)
	}
	if len(p.Clients) != p.ClientCount {
		fmt.Fprintf(w, "Clients listed: %d of %d\n", len(p.Clients), p.ClientCount)
	}
	if len(p.Clients) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "POINT-TO-SITE CLIENTS\tUSER\tVIRTUAL IP\tPUBLIC ADDRESS\tSTATUS\tINGRESS\tEGRESS\tUP SINCE")
	for _, c := range p.Clients {
		var user, vip string
		if c.Client != nil {
			user, vip = c.Client.User, c.Client.VirtualIP.String()
		}
		up := ""
		if !c.UpSince.IsZero() {
			up = c.UpSince.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", c.Name, user, vip, c.Remote, c.Status, c.IngressBytes, c.EgressBytes, up)
	}
	tw.Flush()
}
