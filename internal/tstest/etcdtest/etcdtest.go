// Package etcdtest runs a real single-member etcd (Start), or a cluster of
// several members on loopback (StartCluster), for tests of the etcd store
// (internal/store/etcdstore) and of `vpngw serve --store etcd`.
//
// The member is Debian's etcd-server (scripts/install-deps.sh installs it),
// started as a child process on loopback with free ports and a temporary
// data directory, and stopped by PID through tstest.Proc at cleanup:
//
//	srv := etcdtest.Start(t) // skips if etcd is missing, fails under VPNGW_REQUIRE_PRIV=1
//	... srv.Endpoint ...     // http://127.0.0.1:PORT
//
// $VPNGW_ETCD names another etcd binary (it must exist).
package etcdtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/vpngw/vpngw/internal/tstest"
)

// envRequire is the variable under which a missing etcd fails tests
// instead of skipping them (nstest.EnvRequirePriv; not imported, so that
// this package does not pull the namespace helpers in).
const envRequire = "VPNGW_REQUIRE_PRIV"

// Binary returns the etcd binary: $VPNGW_ETCD, else etcd on PATH; "" if
// there is none.
func Binary() string {
	if p := os.Getenv("VPNGW_ETCD"); p != "" {
		return p
	}
	p, _ := exec.LookPath("etcd")
	return p
}

// Require returns the etcd binary. When there is none it skips the test,
// or fails it under VPNGW_REQUIRE_PRIV=1 (CI), so that the etcd tests
// cannot silently stop running.
func Require(t testing.TB) string {
	t.Helper()
	bin := Binary()
	if bin == "" {
		if os.Getenv(envRequire) == "1" {
			t.Fatalf("etcd is not installed (apt-get install etcd-server, or set VPNGW_ETCD) and %s=1", envRequire)
		}
		t.Skip("etcd is not installed (apt-get install etcd-server, or set VPNGW_ETCD): skipping the etcd tests")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("etcd binary: %v", err)
	}
	return bin
}

// Config configures StartWith.
type Config struct {
	// TLS serves clients over https with a fresh CA, and requires client
	// certificates signed by it (--client-cert-auth); the files are in
	// Server.TLS.
	TLS bool
}

// TLSFiles are the PEM files of a TLS member: the CA that signed the
// server's and the client's certificates, and the client's certificate
// and key.
type TLSFiles struct {
	CA, ClientCert, ClientKey string
}

// Server is one running etcd member.
type Server struct {
	// Endpoint is the client URL, http://127.0.0.1:PORT (https:// with
	// Config.TLS).
	Endpoint string
	// Dir is the member's data directory.
	Dir string
	// TLS holds the certificates with Config.TLS.
	TLS TLSFiles

	proc   *tstest.Proc
	log    string
	health *http.Client
}

// Start starts a fresh single-member etcd and waits until it is healthy;
// it is stopped (SIGTERM, then SIGKILL) at the test's cleanup. It skips
// or fails like Require when etcd is missing.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWith(t, Config{})
}

// StartWith is Start with options.
func StartWith(t testing.TB, c Config) *Server {
	t.Helper()
	bin := Require(t)
	dir := t.TempDir()
	var files *TLSFiles
	if c.TLS {
		f, err := writeCerts(dir)
		if err != nil {
			t.Fatalf("etcdtest: certificates: %v", err)
		}
		files = f
	}
	var lastErr error
	// Free ports are picked by binding and releasing them, so another
	// process can take one in between: retry with new ones.
	for range 3 {
		s, err := start(bin, dir, files)
		if err == nil {
			t.Cleanup(func() { s.Stop() })
			return s
		}
		lastErr = err
	}
	t.Fatalf("etcdtest: %v", lastErr)
	return nil
}

func start(bin, dir string, files *TLSFiles) (*Server, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	m := member{name: "vpngw-test", client: ports[0], peer: ports[1]}
	s, err := m.start(bin, dir, files, []member{m})
	if err != nil {
		return nil, err
	}
	if err := s.waitHealthy(30 * time.Second); err != nil {
		s.Stop()
		return nil, fmt.Errorf("%w\n%s", err, s.tail())
	}
	return s, nil
}

// member is one member's name and loopback ports.
type member struct {
	name         string
	client, peer int
}

func (m member) peerURL() string { return fmt.Sprintf("http://127.0.0.1:%d", m.peer) }

// start starts m as a member of the new cluster of all (m among them)
// without waiting for it.
func (m member) start(bin, dir string, files *TLSFiles, all []member) (*Server, error) {
	scheme := "http"
	if files != nil {
		scheme = "https"
	}
	client := fmt.Sprintf("%s://127.0.0.1:%d", scheme, m.client)
	var initial []string
	for _, o := range all {
		initial = append(initial, o.name+"="+o.peerURL())
	}
	data, err := os.MkdirTemp(dir, "member-")
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, filepath.Base(data)+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	args := []string{
		"--name", m.name,
		"--data-dir", data,
		"--listen-client-urls", client,
		"--advertise-client-urls", client,
		"--listen-peer-urls", m.peerURL(),
		"--initial-advertise-peer-urls", m.peerURL(),
		"--initial-cluster", strings.Join(initial, ","),
		"--initial-cluster-state", "new",
		"--logger", "zap",
		"--log-outputs", "stderr",
	}
	health := http.DefaultClient
	if files != nil {
		args = append(args,
			"--cert-file", filepath.Join(dir, "server.pem"),
			"--key-file", filepath.Join(dir, "server-key.pem"),
			"--trusted-ca-file", files.CA,
			"--client-cert-auth")
		tc, err := files.clientTLS()
		if err != nil {
			return nil, err
		}
		health = &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = cleanEnv()
	cmd.Stdout, cmd.Stderr = logf, logf
	p, err := tstest.Start(cmd)
	if err != nil {
		return nil, err
	}
	s := &Server{Endpoint: client, Dir: data, proc: p, log: logPath, health: health}
	if files != nil {
		s.TLS = *files
	}
	return s, nil
}

// Cluster is a multi-member etcd cluster on loopback.
type Cluster struct {
	// Members are the running members, in start order.
	Members []*Server
}

// Endpoints are the members' client URLs.
func (c *Cluster) Endpoints() []string {
	var eps []string
	for _, m := range c.Members {
		eps = append(eps, m.Endpoint)
	}
	return eps
}

// StartCluster starts a fresh cluster of n members (plain http) and waits
// until every member is healthy (the cluster has a leader); the members
// are stopped at the test's cleanup. It skips or fails like Require when
// etcd is missing.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	bin := Require(t)
	dir := t.TempDir()
	var lastErr error
	for range 3 {
		c, err := startCluster(bin, dir, n)
		if err == nil {
			t.Cleanup(func() {
				for _, m := range c.Members {
					m.Stop()
				}
			})
			return c
		}
		lastErr = err
	}
	t.Fatalf("etcdtest: %v", lastErr)
	return nil
}

// Leader returns the index in Members of the member that leads the
// cluster (Raft), asking each member's status.
func (c *Cluster) Leader(ctx context.Context) (int, error) {
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return -1, err
	}
	defer cli.Close()
	ids := map[uint64]int{}
	var leader uint64
	for i, m := range c.Members {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		st, err := cli.Status(sctx, m.Endpoint)
		cancel()
		if err != nil {
			continue
		}
		ids[st.Header.MemberId] = i
		leader = st.Leader
	}
	if i, ok := ids[leader]; ok {
		return i, nil
	}
	return -1, errors.New("etcdtest: the cluster has no leader")
}

func startCluster(bin, dir string, n int) (*Cluster, error) {
	ports, err := freePorts(2 * n)
	if err != nil {
		return nil, err
	}
	var all []member
	for i := range n {
		all = append(all, member{name: fmt.Sprintf("vpngw-test-%d", i), client: ports[2*i], peer: ports[2*i+1]})
	}
	c := &Cluster{}
	stop := func() {
		for _, m := range c.Members {
			m.Stop()
		}
	}
	for _, m := range all {
		s, err := m.start(bin, dir, nil, all)
		if err != nil {
			stop()
			return nil, err
		}
		c.Members = append(c.Members, s)
	}
	for _, s := range c.Members {
		if err := s.waitHealthy(30 * time.Second); err != nil {
			stop()
			return nil, fmt.Errorf("%w\n%s", err, s.tail())
		}
	}
	return c, nil
}

// Stop stops the member by PID: SIGTERM, SIGKILL after 10 s. Calling it
// again is harmless.
func (s *Server) Stop() { s.proc.Stop(syscall.SIGTERM, 10*time.Second) }

// Kill kills the member by PID with SIGKILL (a crash) and waits for it.
func (s *Server) Kill() { s.proc.Stop(syscall.SIGKILL, 10*time.Second) }

// waitHealthy polls the member's /health until it reports a leader.
func (s *Server) waitHealthy(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last string
	for {
		if !s.proc.Running() {
			return fmt.Errorf("etcd exited during start: %v", s.proc.Err())
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.Endpoint+"/health", nil)
		resp, err := s.health.Do(req)
		if err == nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			last = string(b)
			if resp.StatusCode == http.StatusOK && strings.Contains(last, `"health":"true"`) {
				return nil
			}
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("etcd at %s not healthy after %v: %s", s.Endpoint, timeout, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// tail is the end of the member's log, for failure messages.
func (s *Server) tail() string {
	b, _ := os.ReadFile(s.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// freePorts returns n distinct loopback TCP ports that were free a moment
// ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// cleanEnv is the environment without ETCD_* variables, which etcd would
// read as flags.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ETCD_") {
			env = append(env, kv)
		}
	}
	return env
}
