package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/strongswan/govici/vici"

	"github.com/vpngw/vpngw/internal/agent"
)

// setupFile holds one SetupSample per line.
const setupFile = "setup.jsonl"

// settle is the pause after both sides have dropped their SAs and before
// the next initiate, the same for both implementations.
const settle = 50 * time.Millisecond

// setupOptions describe a series of initiate/terminate cycles.
type setupOptions struct {
	Out    string // results directory
	Repeat int    // repeat number
	N      int    // measured cycles (one warm-up cycle comes first)
	SockA  string // initiator's socket (status socket or vici)
	SockB  string // responder's socket
	Conn   string // connection (vpngw) or IKE config (strongSwan) on the initiator
	Child  string // CHILD_SA config (strongSwan)
	// Protocol labels the samples: protoIKEv2 or protoIKEv1 (the daemons'
	// configuration decides what is negotiated).
	Protocol string
}

// Setup protocols: IKEv2 (IKE_SA_INIT + IKE_AUTH) or IKEv1 (Main Mode +
// Quick Mode).
const (
	protoIKEv2 = "IKEv2"
	protoIKEv1 = "IKEv1"
)

// SetupSample is one IKE_SA+CHILD_SA establishment as seen by a client of
// the initiating daemon.
type SetupSample struct {
	// Repeat and Impl ("vpngw" or "strongswan") identify the series.
	Repeat int    `json:"repeat"`
	Impl   string `json:"impl"`
	// Protocol is "IKEv1" for Main Mode + Quick Mode; empty (samples of
	// earlier runs) or "IKEv2" for IKE_SA_INIT + IKE_AUTH.
	Protocol string `json:"protocol,omitempty"`
	// ClientMs is the round trip of the blocking initiate request over the
	// daemon's Unix socket: from sending the request to reading the whole
	// answer, which the daemon sends once the initiator has installed the
	// CHILD_SA (vpngw: POST initiate?wait; strongSwan: vici initiate with
	// a timeout).
	ClientMs float64 `json:"clientMs"`
	// AgentMs is vpngw's own measurement (setupMs: initiate call to
	// Child SA installed, inside the agent); zero for strongSwan.
	AgentMs float64 `json:"agentMs,omitempty"`
}

// protocol is the sample's protocol, IKEv2 when unlabelled.
func (s SetupSample) protocol() string {
	if s.Protocol == "" {
		return protoIKEv2
	}
	return s.Protocol
}

// unixHTTP is an HTTP client for an agent's status socket; it keeps one
// connection alive between requests, as a vici session does.
func unixHTTP(socket string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		MaxIdleConns: 1,
	}}
}

// post sends a POST to an agent and returns the body of a 2xx answer.
func post(ctx context.Context, c *http.Client, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://agent"+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("POST %s: %s: %s", path, resp.Status, strings.TrimSpace(string(b)))
	}
	return b, nil
}

// getStatus reads an agent's status.
func getStatus(ctx context.Context, c *http.Client) (agent.Status, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://agent/status", nil)
	if err != nil {
		return agent.Status{}, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return agent.Status{}, err
	}
	defer resp.Body.Close()
	var st agent.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return agent.Status{}, fmt.Errorf("status: %w", err)
	}
	return st, nil
}

// initiateWait is one blocking initiate; it returns the client round trip
// and the agent's setupMs.
func initiateWait(ctx context.Context, c *http.Client, conn string) (client time.Duration, agentMs float64, err error) {
	t0 := time.Now()
	b, err := post(ctx, c, "/connections/"+conn+"/initiate?wait=10s")
	client = time.Since(t0)
	if err != nil {
		return 0, 0, err
	}
	var r struct {
		SetupMs float64 `json:"setupMs"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return 0, 0, fmt.Errorf("initiate answer %q: %w", b, err)
	}
	return client, r.SetupMs, nil
}

// waitSocket waits (at most until ctx ends) until an agent answers on its
// status socket with its data plane open (the TUN is listed once the UDP
// sockets are bound and the IKE loop runs).
func waitSocket(ctx context.Context, c *http.Client) error {
	for {
		if st, err := getStatus(ctx, c); err == nil && st.TUN != "" && len(st.Connections) > 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("agent does not answer: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// waitAgents waits until the agents behind sockB, then sockA, answer with
// their data planes open, and returns a client for each.
func waitAgents(ctx context.Context, sockA, sockB string) (a, b *http.Client, err error) {
	a, b = unixHTTP(sockA), unixHTTP(sockB)
	for _, c := range []*http.Client{b, a} {
		if err := waitSocket(ctx, c); err != nil {
			return nil, nil, err
		}
	}
	return a, b, nil
}

// vpngwUp initiates conn on the agent behind sockA (after the agent behind
// sockB is ready) and waits until it is up. It returns the agent's setupMs
// and whether the IKE SA uses UDP encapsulation.
func vpngwUp(ctx context.Context, sockA, sockB, conn string) (ms float64, encap bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	a, b, err := waitAgents(ctx, sockA, sockB)
	if err != nil {
		return 0, false, err
	}
	defer a.CloseIdleConnections()
	defer b.CloseIdleConnections()
	if _, ms, err = initiateWait(ctx, a, conn); err != nil {
		return 0, false, err
	}
	// The status snapshot is refreshed on the agent's loop shortly after
	// the waiter is woken: poll until it lists the IKE SA.
	for {
		st, err := getStatus(ctx, a)
		if err != nil {
			return 0, false, err
		}
		for _, cs := range st.Connections {
			if cs.Name == conn && cs.Status == "Connected" && len(cs.IKE) > 0 {
				return ms, cs.IKE[0].Encap, nil
			}
		}
		select {
		case <-ctx.Done():
			return 0, false, fmt.Errorf("connection %s is not listed as Connected after initiate: %w", conn, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// vpngwDown waits until no connection of the agent has an IKE SA left.
func vpngwDown(ctx context.Context, c *http.Client) error {
	for {
		st, err := getStatus(ctx, c)
		if err != nil {
			return err
		}
		n := 0
		for _, cs := range st.Connections {
			n += len(cs.IKE)
		}
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d IKE SAs left after terminate: %w", n, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// vpngwSetup measures o.N initiate/terminate cycles between two agents
// whose connections are ResponderOnly (so only these requests initiate).
func vpngwSetup(ctx context.Context, o setupOptions) ([]SetupSample, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(o.N+1)*15*time.Second)
	defer cancel()
	a, b := unixHTTP(o.SockA), unixHTTP(o.SockB)
	defer a.CloseIdleConnections()
	defer b.CloseIdleConnections()
	for _, c := range []*http.Client{a, b} {
		if err := waitSocket(ctx, c); err != nil {
			return nil, err
		}
	}
	var out []SetupSample
	for i := 0; i <= o.N; i++ {
		client, ms, err := initiateWait(ctx, a, o.Conn)
		if err != nil {
			return out, fmt.Errorf("vpngw initiate %d: %w", i, err)
		}
		if i > 0 { // cycle 0 warms up both daemons
			out = append(out, SetupSample{Repeat: o.Repeat, Impl: "vpngw", Protocol: o.Protocol, ClientMs: ms2(client), AgentMs: ms})
		}
		if _, err := post(ctx, a, "/connections/"+o.Conn+"/terminate"); err != nil {
			return out, fmt.Errorf("vpngw terminate %d: %w", i, err)
		}
		for _, c := range []*http.Client{a, b} {
			if err := vpngwDown(ctx, c); err != nil {
				return out, fmt.Errorf("vpngw terminate %d: %w", i, err)
			}
		}
		if err := pause(ctx, settle); err != nil {
			return out, err
		}
	}
	return out, nil
}

// dialVici connects to a charon's vici socket, retrying while it starts.
func dialVici(ctx context.Context, sock string) (*vici.Session, error) {
	for {
		s, err := vici.NewSession(vici.WithSocketPath(sock))
		if err == nil {
			return s, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("vici %s: %w", sock, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// swanSAs counts the IKE SAs a charon lists.
func swanSAs(ctx context.Context, s *vici.Session) (int, error) {
	n := 0
	for m, err := range s.CallStreaming(ctx, "list-sas", "list-sa", vici.NewMessage()) {
		if err != nil {
			return 0, err
		}
		n += len(m.Keys())
	}
	return n, nil
}

// swanSetup measures o.N initiate/terminate cycles between two charons.
func swanSetup(ctx context.Context, o setupOptions) ([]SetupSample, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(o.N+1)*15*time.Second)
	defer cancel()
	a, err := dialVici(ctx, o.SockA)
	if err != nil {
		return nil, err
	}
	defer a.Close()
	b, err := dialVici(ctx, o.SockB)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	var out []SetupSample
	for i := 0; i <= o.N; i++ {
		m := vici.NewMessage()
		_ = m.Set("ike", o.Conn)
		_ = m.Set("child", o.Child)
		_ = m.Set("timeout", "10000") // block until the CHILD_SA is up
		t0 := time.Now()
		_, err := a.Call(ctx, "initiate", m)
		client := time.Since(t0)
		if err != nil {
			return out, fmt.Errorf("strongswan initiate %d: %w", i, err)
		}
		if i > 0 {
			out = append(out, SetupSample{Repeat: o.Repeat, Impl: "strongswan", Protocol: o.Protocol, ClientMs: ms2(client)})
		}
		t := vici.NewMessage()
		_ = t.Set("ike", o.Conn)
		_ = t.Set("timeout", "5000") // block until the delete is acknowledged
		if _, err := a.Call(ctx, "terminate", t); err != nil {
			return out, fmt.Errorf("strongswan terminate %d: %w", i, err)
		}
		for _, s := range []*vici.Session{a, b} {
			if err := swanDown(ctx, s); err != nil {
				return out, fmt.Errorf("strongswan terminate %d: %w", i, err)
			}
		}
		if err := pause(ctx, settle); err != nil {
			return out, err
		}
	}
	return out, nil
}

// swanDown waits until a charon lists no IKE SA.
func swanDown(ctx context.Context, s *vici.Session) error {
	for {
		n, err := swanSAs(ctx, s)
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d IKE SAs left after terminate: %w", n, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func pause(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

func ms2(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func printSetup(w io.Writer, s []SetupSample) {
	if len(s) == 0 {
		return
	}
	var c, a []float64
	for _, x := range s {
		c = append(c, x.ClientMs)
		if x.AgentMs > 0 {
			a = append(a, x.AgentMs)
		}
	}
	fmt.Fprintf(w, "  r%d %-10s %s setup  client median %.2f ms (n=%d)", s[0].Repeat, s[0].Impl, s[0].protocol(), median(c), len(c))
	if len(a) > 0 {
		fmt.Fprintf(w, ", agent median %.2f ms", median(a))
	}
	fmt.Fprintln(w)
}
