package e2e_test

// vpngw agent configured by a file (no control plane), as a user runs it.

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/agent"
	"github.com/vpngw/vpngw/internal/tstest/nstest"
	"github.com/vpngw/vpngw/internal/tstest/swantest"
)

// runAgent starts `vpngw agent --config cfg --socket sock` in ns; it is
// stopped with SIGTERM at cleanup (by PID).
func runAgent(t *testing.T, ns *nstest.NS, cfg, sock string) *proc {
	t.Helper()
	return startProcT(t, ns, filepath.Join(t.TempDir(), "agent.log"),
		vpngwBin(t), "agent", "--config", cfg, "--socket", sock, "--log-level", "debug")
}

// statusOf is the agent's status from its socket (zero if unreachable).
func statusOf(t *testing.T, sock string) agent.Status {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := agent.FetchStatus(ctx, sock, agent.StatusQuery{})
	if err != nil {
		return agent.Status{}
	}
	return st
}

// TestDocumentedExample runs docs/examples/agent.yaml against strongSwan
// with docs/examples/swanctl.conf, exactly as the documentation shows.
func TestDocumentedExample(t *testing.T) {
	swantest.Require(t)
	// Site A (WAN 192.0.2.1) and site B (WAN 192.0.2.2) on one link.
	a := nstest.NewSite(t, "vag-a", netip.MustParsePrefix("10.1.0.0/24"))
	b := nstest.NewSite(t, "vag-b", netip.MustParsePrefix("10.2.0.0/24"))
	nstest.Link(t, a.GW, "wan0", netip.MustParsePrefix("192.0.2.1/24"), b.GW, "wan0", netip.MustParsePrefix("192.0.2.2/24"))
	// The example protects 10.1.0.0/16 and 10.2.0.0/16.
	swantest.StartFile(t, b.GW, "../../docs/examples/swanctl.conf")
	sock := filepath.Join(t.TempDir(), "agent.sock")
	runAgent(t, a.GW, "../../docs/examples/agent.yaml", sock)
	nstest.WaitFor(t, 15*time.Second, func() bool { return statusOf(t, sock).Connected("onprem") }, "example not connected")
	reachable(t, a.Host, b.LANHost, 5*time.Second)
	reachable(t, b.Host, a.LANHost, 5*time.Second)
	out, err := exec.Command(vpngwBin(t), "agent", "--status", "--socket", sock).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "onprem") || !strings.Contains(string(out), "Connected") ||
		!strings.Contains(string(out), "aes256gcm16") {
		t.Fatalf("vpngw agent --status: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "ExampleKey") {
		t.Fatal("status shows the shared key")
	}
	// Prometheus metrics on the same socket.
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	// The snapshot behind /status and /metrics refreshes every second.
	var m string
	re := regexp.MustCompile(`vpngw_sa_packets_total\{connection="onprem",direction="in",spi="[0-9a-f]{8}"\} [1-9]`)
	ok := nstest.Eventually(3*time.Second, func() bool {
		resp, err := hc.Get("http://agent/metrics")
		if err != nil {
			return false
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		m = string(body)
		return strings.Contains(m, `vpngw_connection_up{connection="onprem"} 1`) && re.MatchString(m)
	})
	if !ok {
		t.Fatalf("metrics:\n%s", m)
	}
}

// TestReloadOnSIGHUP changes one of two connections and sends SIGHUP: the
// changed connection renegotiates, the other keeps its SAs; an invalid file
// changes nothing.
func TestReloadOnSIGHUP(t *testing.T) {
	nstest.RequirePriv(t)
	// A star: gw A in the middle of a WAN switch with gw B and gw C.
	wan := nstest.New(t, "vag-wan")
	wan.MustRun(t, "ip", "link", "add", "br0", "type", "bridge")
	wan.MustRun(t, "ip", "link", "set", "br0", "up")
	mk := func(name, addr, lan string) *nstest.Site {
		s := nstest.NewSite(t, "vag-"+name, netip.MustParsePrefix(lan))
		nstest.Link(t, s.GW, "wan0", netip.MustParsePrefix(addr+"/24"), wan, "p-"+name, netip.Prefix{})
		wan.MustRun(t, "ip", "link", "set", "p-"+name, "master", "br0")
		return s
	}
	a := mk("a", "192.0.2.1", "10.1.0.0/24")
	b := mk("b", "192.0.2.2", "10.2.0.0/24")
	c := mk("c", "192.0.2.3", "10.3.0.0/24")
	// B and C answer A only.
	peer := func(s *nstest.Site, name, wanAddr string) {
		cfg := filepath.Join(t.TempDir(), "agent.yaml")
		body := fmt.Sprintf(`name: gw-%s
localAddress: %s
localPrefixes: [%s]
connections:
  - name: to-a
    remoteAddress: 192.0.2.1
    remotePrefixes: [10.1.0.0/24]
    sharedKey: reloadKey42
    connectionMode: ResponderOnly
`, name, wanAddr, s.LAN)
		if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		runAgent(t, s.GW, cfg, filepath.Join(t.TempDir(), "agent.sock"))
	}
	peer(b, "b", "192.0.2.2")
	peer(c, "c", "192.0.2.3")
	cfgPath := filepath.Join(t.TempDir(), "agent.yaml")
	write := func(body string) {
		if err := os.WriteFile(cfgPath, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	base := `name: gw-a
localAddress: 192.0.2.1
localPrefixes: [10.1.0.0/24]
connections:
  - name: to-b
    remoteAddress: 192.0.2.2
    remotePrefixes: [10.2.0.0/24]
    sharedKey: reloadKey42
  - name: to-c
    remoteAddress: 192.0.2.3
    remotePrefixes: [10.3.0.0/24]
    sharedKey: reloadKey42
`
	write(base)
	sock := filepath.Join(t.TempDir(), "agent.sock")
	cmd := runAgent(t, a.GW, cfgPath, sock)
	nstest.WaitFor(t, 15*time.Second, func() bool {
		st := statusOf(t, sock)
		return st.Connected("to-b") && st.Connected("to-c")
	}, "not both connected")
	reachable(t, a.Host, b.LANHost, 5*time.Second)
	reachable(t, a.Host, c.LANHost, 5*time.Second)
	spis := func() (string, string) {
		st := statusOf(t, sock)
		var sb, sc string
		for _, cn := range st.Connections {
			if len(cn.IKE) == 0 {
				continue
			}
			id := cn.IKE[0].SPIi
			if len(cn.IKE[0].Children) > 0 {
				id += "/" + cn.IKE[0].Children[0].InSPI
			}
			if cn.Name == "to-b" {
				sb = id
			} else {
				sc = id
			}
		}
		return sb, sc
	}
	b0, c0 := spis()

	// An invalid file: refused, nothing changes.
	write(strings.Replace(base, "dpdTimeout", "x", 1) + "bogus: true\n")
	_ = cmd.Cmd.Process.Signal(syscall.SIGHUP)
	time.Sleep(time.Second)
	if b1, c1 := spis(); b1 != b0 || c1 != c0 {
		t.Fatalf("an invalid configuration disturbed the tunnels: %s→%s %s→%s", b0, b1, c0, c1)
	}

	// Change to-c only (its DPD timeout): to-c renegotiates, to-b stays.
	write(base + "    dpdTimeoutSeconds: 30\n")
	_ = cmd.Cmd.Process.Signal(syscall.SIGHUP)
	nstest.WaitFor(t, 15*time.Second, func() bool {
		_, c2 := spis()
		return c2 != "" && c2 != c0 && statusOf(t, sock).Connected("to-c")
	}, "to-c was not renegotiated")
	if b2, _ := spis(); b2 != b0 {
		t.Fatalf("to-b was disturbed by a change to to-c: %s → %s", b0, b2)
	}
	reachable(t, a.Host, c.LANHost, 5*time.Second)

	// Remove to-c: its tunnel and routes go away, to-b stays.
	write(strings.Split(base, "  - name: to-c")[0])
	_ = cmd.Cmd.Process.Signal(syscall.SIGHUP)
	nstest.WaitFor(t, 10*time.Second, func() bool { return len(statusOf(t, sock).Connections) == 1 }, "to-c not removed")
	if b3, _ := spis(); b3 != b0 {
		t.Fatalf("to-b disturbed by removing to-c: %s → %s", b0, b3)
	}
	if out, _ := a.GW.Run("ip", "route", "show", "10.3.0.0/24"); strings.TrimSpace(out) != "" {
		t.Fatalf("route to the removed connection remains: %s", out)
	}
	reachable(t, a.Host, b.LANHost, 5*time.Second)
}
