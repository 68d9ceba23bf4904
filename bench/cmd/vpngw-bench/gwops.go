package main

// The gateway-operations mode (GWOPS=100 make bench,
// scripts/bench-gwops.sh): a gateway of `vpngw serve --provider lab` at its
// SKU's limit of site-to-site connections, driven the way a user drives
// it. Each repeat creates the last connection with the CLI (`vpngw network
// vpn-connection create`, which returns when the operation has Succeeded),
// polls the API until its connectionStatus is Connected, times
// `vpngw network vpn-connection list` (the process, sign-in cache
// included) and the REST GET of the collection, and deletes the connection
// again. With -before, each list is also timed with another vpngw binary
// (the CLI before a change), alternating with -bin, so that the two are
// compared in the same run on the same server.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"time"

	"github.com/vpngw/vpngw/internal/client"
	"github.com/vpngw/vpngw/internal/resource"
)

// gwopsFile holds one GwopsSample per line.
const gwopsFile = "gwops.jsonl"

// gwopsOptions describe the measured operations against one gateway.
type gwopsOptions struct {
	Out        string // results directory
	Repeats    int    // create/delete cycles
	Lists      int    // list timings of each kind per repeat
	Bin        string // the vpngw binary (CLI)
	Before     string // another vpngw binary whose list is timed too ("" none)
	URL        string // the API (VPNGW_URL)
	CAFile     string // the server's CA (VPNGW_CA_FILE)
	Credential string // the administrator's credential file (REST sign-in)
	Group      string // resource group
	Gateway    string // virtual network gateway
	Conn       string // the connection created and deleted each repeat
	Site       string // its local network gateway
	SharedKey  string // its shared key
}

// GwopsSample is one create/list/delete cycle.
type GwopsSample struct {
	// Repeat numbers the cycle.
	Repeat int `json:"repeat"`
	// Connections is how many connections the group listed with the new
	// one in place.
	Connections int `json:"connections"`
	// CreateMs is the CLI create's wall time (until the operation
	// Succeeded and the CLI exited).
	CreateMs float64 `json:"createMs"`
	// ConnectedMs is from the start of the CLI create until a GET of the
	// connection first shows connectionStatus Connected (polled every
	// 5 ms).
	ConnectedMs float64 `json:"connectedMs"`
	// ListCLIMs are the wall times of `vpngw network vpn-connection list
	// -g GROUP -o json` (its output read through a pipe and discarded).
	ListCLIMs []float64 `json:"listCliMs"`
	// ListCLICPUMs are the same processes' CPU times (user + system).
	ListCLICPUMs []float64 `json:"listCliCpuMs,omitempty"`
	// ListBeforeMs and ListBeforeCPUMs are the same list run with the
	// -before binary, alternating with -bin.
	ListBeforeMs    []float64 `json:"listBeforeMs,omitempty"`
	ListBeforeCPUMs []float64 `json:"listBeforeCpuMs,omitempty"`
	// ListRESTMs are the round trips of the REST GET of the group's
	// connections (one keep-alive HTTPS connection, bearer token).
	ListRESTMs []float64 `json:"listRestMs"`
	// Error is set when the cycle failed.
	Error string `json:"error,omitempty"`
}

// gwopsClient is the REST client: the server's CA, a token from the
// administrator's credential.
func gwopsClient(ctx context.Context, o gwopsOptions) (*client.Client, error) {
	pem, err := os.ReadFile(o.CAFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no certificate", o.CAFile)
	}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	b, err := os.ReadFile(o.Credential)
	if err != nil {
		return nil, err
	}
	var cred struct {
		ClientID     string `json:"clientId"`
		ClientSecret string `json:"clientSecret"`
	}
	if err := json.Unmarshal(b, &cred); err != nil {
		return nil, fmt.Errorf("%s: %w", o.Credential, err)
	}
	tok, err := client.SignIn(ctx, hc, o.URL, cred.ClientID, cred.ClientSecret, "", "")
	if err != nil {
		return nil, err
	}
	return client.New(o.URL, client.WithHTTPClient(hc),
		client.WithToken(func(context.Context) (string, error) { return tok.AccessToken, nil }))
}

// cli runs the vpngw CLI (with this process's VPNGW_* environment) and
// returns its wall time.
func cli(ctx context.Context, bin string, args ...string) (time.Duration, error) {
	d, _, err := cliTimes(ctx, bin, args...)
	return d, err
}

// cliTimes runs the vpngw CLI as cli does and returns its wall time and
// its CPU time (user + system).
func cliTimes(ctx context.Context, bin string, args ...string) (wall, cpu time.Duration, err error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	var stderr limitedBuffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	t0 := time.Now()
	err = cmd.Run()
	wall = time.Since(t0)
	if cmd.ProcessState != nil {
		cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	if err != nil {
		return wall, cpu, fmt.Errorf("%s %v: %w: %s", bin, args, err, stderr.String())
	}
	return wall, cpu, nil
}

// limitedBuffer keeps the first 4 kB written to it.
type limitedBuffer struct{ b []byte }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := 4096 - len(l.b); room > 0 {
		l.b = append(l.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string { return string(l.b) }

func runGwops(ctx context.Context, o gwopsOptions) ([]GwopsSample, error) {
	c, err := gwopsClient(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("REST sign-in: %w", err)
	}
	group := "/subscriptions/" + resource.DefaultSubscription + "/resourceGroups/" + o.Group
	connPath := group + "/providers/Microsoft.Network/connections/" + o.Conn
	gwID := group + "/providers/Microsoft.Network/virtualNetworkGateways/" + o.Gateway
	var out []GwopsSample
	for r := 1; r <= o.Repeats; r++ {
		s := GwopsSample{Repeat: r}
		if err := gwopsCycle(ctx, o, c, group, connPath, gwID, &s); err != nil {
			s.Error = err.Error()
		}
		printGwops(os.Stdout, s)
		if err := appendJSONLine(o.Out, gwopsFile, s); err != nil {
			return out, err
		}
		out = append(out, s)
		if s.Error != "" {
			return out, errors.New(s.Error)
		}
	}
	return out, nil
}

func gwopsCycle(ctx context.Context, o gwopsOptions, c *client.Client, group, connPath, gwID string, s *GwopsSample) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	t0 := time.Now()
	d, err := cli(ctx, o.Bin, "network", "vpn-connection", "create", "-g", o.Group, "-n", o.Conn,
		"--vnet-gateway1", gwID, "--local-gateway2", o.Site, "--shared-key", o.SharedKey, "-o", "none")
	s.CreateMs = ms2(d)
	if err != nil {
		return err
	}
	for {
		var conn struct {
			Properties struct {
				ConnectionStatus string `json:"connectionStatus"`
			} `json:"properties"`
		}
		if _, err := c.Get(ctx, connPath, &conn); err != nil {
			return err
		}
		if conn.Properties.ConnectionStatus == "Connected" {
			s.ConnectedMs = ms2(time.Since(t0))
			break
		}
		if err := pause(ctx, 5*time.Millisecond); err != nil {
			return fmt.Errorf("%s not Connected (%q): %w", o.Conn, conn.Properties.ConnectionStatus, err)
		}
	}
	for i := range o.Lists {
		list := []string{"network", "vpn-connection", "list", "-g", o.Group, "-o", "json"}
		before := func() error {
			if o.Before == "" {
				return nil
			}
			d, cpu, err := cliTimes(ctx, o.Before, list...)
			s.ListBeforeMs = append(s.ListBeforeMs, ms2(d))
			s.ListBeforeCPUMs = append(s.ListBeforeCPUMs, ms2(cpu))
			return err
		}
		if i%2 == 1 { // alternate which binary goes first
			if err := before(); err != nil {
				return err
			}
		}
		d, cpu, err := cliTimes(ctx, o.Bin, list...)
		if err != nil {
			return err
		}
		s.ListCLIMs = append(s.ListCLIMs, ms2(d))
		s.ListCLICPUMs = append(s.ListCLICPUMs, ms2(cpu))
		if i%2 == 0 {
			if err := before(); err != nil {
				return err
			}
		}
		t := time.Now()
		items, err := c.List(ctx, group+"/providers/Microsoft.Network/connections")
		if err != nil {
			return err
		}
		s.ListRESTMs = append(s.ListRESTMs, ms2(time.Since(t)))
		s.Connections = len(items)
	}
	if _, err := cli(ctx, o.Bin, "network", "vpn-connection", "delete", "-g", o.Group, "-n", o.Conn); err != nil {
		return err
	}
	// Give the deleted tunnel's Delete exchange time to reach the peer
	// before the next create brings it up again.
	return pause(ctx, time.Second)
}

func printGwops(w io.Writer, s GwopsSample) {
	if s.Error != "" {
		fmt.Fprintf(w, "  r%d FAILED: %s\n", s.Repeat, s.Error)
		return
	}
	fmt.Fprintf(w, "  r%d create %.0f ms, Connected at %.0f ms; %d connections: list CLI median %.0f ms, REST median %.1f ms",
		s.Repeat, s.CreateMs, s.ConnectedMs, s.Connections, median(s.ListCLIMs), median(s.ListRESTMs))
	if len(s.ListBeforeMs) > 0 {
		fmt.Fprintf(w, ", before median %.0f ms", median(s.ListBeforeMs))
	}
	fmt.Fprintln(w)
}

// writeGwopsReport prints median and p90 of each figure over all repeats,
// and every repeat's create -> Connected time.
func writeGwopsReport(dir string, w io.Writer) error {
	samples, err := readJSONLines[GwopsSample](dir, gwopsFile)
	if err != nil {
		return err
	}
	var create, connected, lcli, lcpu, lbefore, lbeforeCPU, lrest, ratios []float64
	conns := map[int]bool{}
	for _, s := range samples {
		if s.Error != "" {
			fmt.Fprintf(w, "failed: r%d: %s\n", s.Repeat, s.Error)
			continue
		}
		create = append(create, s.CreateMs)
		connected = append(connected, s.ConnectedMs)
		lcli = append(lcli, s.ListCLIMs...)
		lcpu = append(lcpu, s.ListCLICPUMs...)
		lbefore = append(lbefore, s.ListBeforeMs...)
		lbeforeCPU = append(lbeforeCPU, s.ListBeforeCPUMs...)
		if len(s.ListBeforeMs) > 0 && len(s.ListCLIMs) > 0 {
			ratios = append(ratios, median(s.ListBeforeMs)/median(s.ListCLIMs))
		}
		lrest = append(lrest, s.ListRESTMs...)
		conns[s.Connections] = true
	}
	row := func(name string, v []float64, target float64) []string {
		if len(v) == 0 {
			return []string{name, "0", "", "", "", ""}
		}
		sorted := append([]float64(nil), v...)
		sort.Float64s(sorted)
		p90 := percentile(sorted, 0.9)
		t := ""
		if target > 0 {
			t = fmt.Sprintf("< %.0f ms: %s", target, pass(p90 < target))
		}
		return []string{name, fmt.Sprint(len(v)), fmt.Sprintf("%.1f", median(v)), fmt.Sprintf("%.1f", p90), fmt.Sprintf("%.1f", sorted[len(sorted)-1]), t}
	}
	fmt.Fprintf(w, "connections listed with the new one in place: %v\n\n", sortedKeys(conns))
	rows := [][]string{
		row("create -> Connected (CLI create, then GET polled)", connected, 1000),
		row("CLI create alone (operation Succeeded)", create, 0),
		row("vpngw network vpn-connection list (process)", lcli, 100),
	}
	if len(lcpu) > 0 {
		rows = append(rows, row("  the same processes' CPU time", lcpu, 0))
	}
	if len(lbefore) > 0 {
		rows = append(rows, row("list with the -before binary (same run, alternating)", lbefore, 100),
			row("  the same processes' CPU time", lbeforeCPU, 0))
	}
	rows = append(rows, row("REST GET connections (round trip)", lrest, 100))
	writeTable(w, []string{"operation", "samples", "median ms", "p90 ms", "max ms", "target (p90)"}, rows)
	fmt.Fprintf(w, "\ncreate -> Connected per repeat (ms): %s\n", fmtList(connected, "%.0f"))
	if len(ratios) > 0 {
		fmt.Fprintf(w, "list, before / after (median wall time per repeat): %s; median %.2f\n", fmtList(ratios, "%.2f"), median(ratios))
	}
	return nil
}
