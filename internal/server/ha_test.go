package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/api"
	"github.com/vpngw/vpngw/internal/resource"
	"github.com/vpngw/vpngw/internal/tstest"
	"github.com/vpngw/vpngw/internal/tstest/etcdtest"
	"github.com/vpngw/vpngw/internal/tstest/testbin"
)

func TestMain(m *testing.M) { os.Exit(testbin.Main(m)) }

// haSub is the subscription of the replica tests' resources.
const haSub = "/subscriptions/00000000-0000-0000-0000-0000000000a1"

func haID(rg, typ, name string) string {
	return haSub + "/resourceGroups/" + rg + "/providers/Microsoft.Network/" + typ + "/" + name
}

// readyz GETs base/readyz and returns its status code and body.
func readyz(base string) (int, HealthStatus, error) {
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(base + readyzPath)
	if err != nil {
		return 0, HealthStatus{}, err
	}
	defer resp.Body.Close()
	var h HealthStatus
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &h); err != nil {
		return resp.StatusCode, h, fmt.Errorf("%w: %s", err, b)
	}
	return resp.StatusCode, h, nil
}

// waitOneLeader polls the replicas' /readyz (bases; "" skips one) until
// exactly one says it leads and the others name it as leader, and returns
// its index.
func waitOneLeader(t *testing.T, bases []string, within time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(within)
	var last string
	for {
		leader, ok := -1, true
		ids := map[string]bool{}
		var seen []string
		for i, b := range bases {
			if b == "" {
				continue
			}
			st, h, err := readyz(b)
			seen = append(seen, fmt.Sprintf("%d: %d %+v %v", i, st, h, err))
			if err != nil || st != http.StatusOK {
				ok = false
				continue
			}
			if h.Leader {
				if leader >= 0 || h.LeaderID != h.Replica {
					ok = false
				}
				leader = i
			}
			ids[h.LeaderID] = true
		}
		if ok && leader >= 0 && len(ids) == 1 {
			return leader
		}
		last = strings.Join(seen, "; ")
		if time.Now().After(deadline) {
			t.Fatalf("no single leader after %v: %s", within, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cutProxy forwards loopback TCP connections to target until Cut, which
// drops them and refuses new ones: a replica's network path to etcd.
type cutProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	cut    bool
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: u.Host}
	go p.serve()
	t.Cleanup(p.Cut)
	return p
}

// URL is the proxy's etcd client URL.
func (p *cutProxy) URL() string { return "http://" + p.ln.Addr().String() }

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		u, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			c.Close()
			u.Close()
			return
		}
		p.conns = append(p.conns, c, u)
		p.mu.Unlock()
		go func() { io.Copy(u, c); u.Close() }()
		go func() { io.Copy(c, u); c.Close() }()
	}
}

// Cut closes the listener and every forwarded connection.
func (p *cutProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	p.ln.Close()
	for _, c := range p.conns {
		c.Close()
	}
}

// holdLog records the Realize calls of gateways on every replica.
type holdLog struct {
	mu    sync.Mutex
	calls []holdCall
}

// holdCall is one Realize of a gateway: on which replica, from start to
// end, and how it ended ("" while running, "released" or "canceled").
type holdCall struct {
	replica    int
	start, end time.Time
	outcome    string
}

func (l *holdLog) begin(replica int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, holdCall{replica: replica, start: time.Now()})
	return len(l.calls) - 1
}

func (l *holdLog) finish(i int, outcome string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls[i].end, l.calls[i].outcome = time.Now(), outcome
}

func (l *holdLog) snapshot() []holdCall {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]holdCall(nil), l.calls...)
}

// waitCall waits for a call on replica and returns it.
func (l *holdLog) waitCall(t *testing.T, replica int, within time.Duration) holdCall {
	t.Helper()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, c := range l.snapshot() {
			if c.replica == replica {
				return c
			}
		}
	}
	t.Fatalf("no gateway Realize on replica %d within %v: %+v", replica, within, l.snapshot())
	return holdCall{}
}

// holdProvisioner is the none provider, except that realizing a gateway
// waits for release (or its context's end, a lost leadership).
type holdProvisioner struct {
	api.NoneProvisioner
	replica int
	release <-chan struct{}
	log     *holdLog
}

func (p *holdProvisioner) Realize(ctx context.Context, _ resource.View, obj resource.Object) error {
	if _, ok := obj.(*resource.VirtualNetworkGateway); !ok {
		return ctx.Err()
	}
	i := p.log.begin(p.replica)
	select {
	case <-p.release:
		p.log.finish(i, "released")
		return nil
	case <-ctx.Done():
		p.log.finish(i, "canceled")
		return ctx.Err()
	}
}

// opStatus GETs an Azure-AsyncOperation URL's path on base.
func opStatus(t *testing.T, base, asyncURL string) (int, string) {
	t.Helper()
	u, err := url.Parse(asyncURL)
	if err != nil {
		t.Fatal(err)
	}
	st, _, b := send(t, http.MethodGet, base+u.RequestURI(), "", "", "", "")
	var op api.OperationStatus
	_ = json.Unmarshal([]byte(b), &op)
	return st, op.Status
}

// TestReplicasFailover runs three `serve` replicas in this process on one
// real etcd, each reaching etcd through its own TCP proxy, with a leader
// lease of 3 s and a provider that holds gateway creations:
//
//   - exactly one replica reports "leader": true in /readyz, and the
//     others name it;
//   - writes through one replica are read on another;
//   - a gateway PUT accepted by a follower is worked on by the leader
//     (its provider is called there), and its operation URL answers on
//     every replica;
//   - cutting the leader off etcd mid-operation: it stops working on the
//     operation before another replica starts it (no two leaders act), a
//     follower takes over within the lease plus a margin, the operation
//     completes there, and every acknowledged write is still there; the
//     cut replica's /readyz says 503, store unreachable, not leader;
//   - stopping the new leader cleanly hands over at once (it resigns).
func TestReplicasFailover(t *testing.T) {
	etcd := etcdtest.Start(t)
	keyFile := filepath.Join(t.TempDir(), "secrets.key")
	const ttl = 3 * time.Second
	release := make(chan struct{})
	calls := &holdLog{}
	bases := make([]string, 3)
	stops := make([]func(), 3)
	proxies := make([]*cutProxy, 3)
	for i := range 3 {
		proxies[i] = newCutProxy(t, etcd.Endpoint)
		o := etcdOptions(t, proxies[i].URL(), "/vpngw/ha/", keyFile)
		o.LeaderTTL = ttl
		o.provisioner = &holdProvisioner{replica: i, release: release, log: calls}
		addr, stop := startNoneStop(t, o)
		bases[i], stops[i] = "http://"+addr, stop
	}
	leader := waitOneLeader(t, bases, 15*time.Second)
	follower, other := (leader+1)%3, (leader+2)%3
	t.Logf("replica %d leads", leader)

	// Writes through one replica, reads on another.
	var acked []string
	put := func(base, id, body string) {
		t.Helper()
		putJSON(t, base+id+etcdTestAPI, body)
		acked = append(acked, id)
	}
	rg := haSub + "/resourceGroups/ha"
	vnet, pip, gw := haID("ha", "virtualNetworks", "v"), haID("ha", "publicIPAddresses", "ip"), haID("ha", "virtualNetworkGateways", "gw")
	put(bases[0], rg, `{"location":"westeurope"}`)
	put(bases[0], vnet, `{"location":"westeurope","properties":{"addressSpace":{"addressPrefixes":["10.1.0.0/16"]},
		"subnets":[{"name":"GatewaySubnet","properties":{"addressPrefix":"10.1.255.0/27"}}]}}`)
	put(bases[0], pip, `{"location":"westeurope","sku":{"name":"Standard"},"properties":{"publicIPAllocationMethod":"Static"}}`)
	waitSucceeded(t, bases[1]+vnet+etcdTestAPI)
	waitSucceeded(t, bases[1]+pip+etcdTestAPI)

	// A gateway accepted by a follower is realized by the leader.
	st, h, body := send(t, http.MethodPut, bases[follower]+gw+etcdTestAPI, "", "application/json", "",
		fmt.Sprintf(`{"location":"westeurope","properties":{"gatewayType":"Vpn","vpnType":"RouteBased","sku":{"name":"VpnGw1"},
		"ipConfigurations":[{"name":"default","properties":{"subnet":{"id":%q},"publicIPAddress":{"id":%q}}}]}}`, vnet+"/subnets/GatewaySubnet", pip))
	if st != http.StatusCreated {
		t.Fatalf("PUT gateway on follower %d: %d %s", follower, st, body)
	}
	acked = append(acked, gw)
	async := h.Get("Azure-AsyncOperation")
	calls.waitCall(t, leader, 10*time.Second)
	for i, b := range bases {
		if st, status := opStatus(t, b, async); st != http.StatusOK || status != api.StatusInProgress {
			t.Fatalf("operation on replica %d: %d %q, want 200 InProgress", i, st, status)
		}
	}
	for _, c := range calls.snapshot() {
		if c.replica != leader {
			t.Fatalf("a follower realized the gateway: %+v", c)
		}
	}
	// More writes while the gateway is held.
	lng := haID("ha", "localNetworkGateways", "site")
	put(bases[other], lng, `{"location":"westeurope","properties":{"gatewayIpAddress":"192.0.2.1","localNetworkAddressSpace":{"addressPrefixes":["192.168.1.0/24"]}}}`)

	// Cut the leader off etcd mid-operation.
	cut := time.Now()
	proxies[leader].Cut()
	live := append([]string(nil), bases...)
	live[leader] = ""
	next := waitOneLeader(t, live, ttl+10*time.Second)
	takeover := time.Since(cut)
	t.Logf("leader %d cut off etcd: replica %d leads after %v (lease %v)", leader, next, takeover.Round(time.Millisecond), ttl)
	if takeover > ttl+3*time.Second {
		t.Errorf("takeover took %v, want within the lease %v + 3s", takeover, ttl)
	}
	second := calls.waitCall(t, next, 10*time.Second)
	for _, c := range calls.snapshot() {
		if c.replica == leader && (c.outcome != "canceled" || !c.end.Before(second.start)) {
			t.Fatalf("the cut leader's Realize %+v did not end before the new leader's began at %v", c, second.start)
		}
	}
	t.Logf("old leader stopped its operation %v after the cut; the new one resumed it %v after the cut",
		calls.snapshot()[0].end.Sub(cut).Round(time.Millisecond), second.start.Sub(cut).Round(time.Millisecond))
	close(release)
	for _, b := range live {
		if b == "" {
			continue
		}
		waitSucceeded(t, b+gw+etcdTestAPI)
		if st, status := opStatus(t, b, async); st != http.StatusOK || status != api.StatusSucceeded {
			t.Fatalf("operation on %s: %d %q, want Succeeded", b, st, status)
		}
		for _, id := range acked {
			if st, _ := getState(t, b+id+etcdTestAPI); st != http.StatusOK {
				t.Fatalf("acknowledged %s: GET on %s: %d", id, b, st)
			}
		}
	}
	if st, h, err := readyz(bases[leader]); st != http.StatusServiceUnavailable || h.Leader || h.Store.State != "unreachable" {
		t.Fatalf("cut replica's /readyz: %d %+v %v, want 503, not leader, store unreachable", st, h, err)
	}

	// A clean stop resigns: the last replica leads at once.
	stopAt := time.Now()
	stops[next]()
	live[next] = ""
	last := waitOneLeader(t, live, ttl+10*time.Second)
	handover := time.Since(stopAt)
	t.Logf("leader %d stopped cleanly: replica %d leads %v later", next, last, handover.Round(time.Millisecond))
	if handover > ttl {
		t.Errorf("handover after a clean stop took %v, want well within the lease %v", handover, ttl)
	}
}

// serveProc is one `vpngw serve` process.
type serveProc struct {
	proc *tstest.Proc
	base string
}

// startServeBinary runs the vpngw binary's serve on etcd.
func startServeBinary(t *testing.T, bin string, endpoints []string, keyFile string, ttl time.Duration) *serveProc {
	t.Helper()
	dir := t.TempDir()
	listenFile := filepath.Join(dir, "listen")
	cmd := exec.Command(bin, "serve", "--provider", "none", "--listen", "127.0.0.1:0", "--listen-file", listenFile,
		"--data-dir", filepath.Join(dir, "data"), "--secrets-key-file", keyFile,
		"--store", "etcd", "--etcd-endpoints", strings.Join(endpoints, ","), "--etcd-prefix", "/vpngw/ha/",
		"--leader-ttl", ttl.String(), "--log-level", "debug", "--insecure-http")
	logf, err := os.Create(filepath.Join(dir, "serve.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logf.Close() })
	cmd.Stdout, cmd.Stderr = logf, logf
	p := tstest.StartT(t, cmd, 10*time.Second)
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if b, err := os.ReadFile(listenFile); err == nil && len(b) > 0 {
			addr := strings.TrimSpace(string(b))
			serverTokens.Store(addr, adminToken(t, Options{DataDir: filepath.Join(dir, "data"), InsecureHTTP: true}, addr))
			return &serveProc{proc: p, base: "http://" + addr}
		}
		if !p.Running() {
			break
		}
	}
	log, _ := os.ReadFile(logf.Name())
	t.Fatalf("vpngw serve did not start: %v\n%s", p.Err(), log)
	return nil
}

// TestReplicasKillLeader runs three `vpngw serve --store etcd` processes
// (the real binary, default lease 5 s) on one real etcd and kills the
// leader with SIGKILL: writes accepted by the followers meanwhile (while
// no replica leads, their operations wait) complete once a follower has
// taken over, within the lease plus a margin, and none is lost.
func TestReplicasKillLeader(t *testing.T) {
	etcd := etcdtest.Start(t)
	bin := testbin.Path(t)
	keyFile := filepath.Join(t.TempDir(), "secrets.key")
	procs := make([]*serveProc, 3)
	bases := make([]string, 3)
	procs[0] = startServeBinary(t, bin, []string{etcd.Endpoint}, keyFile, DefaultLeaderTTL) // creates the key file
	for i := 1; i < 3; i++ {
		procs[i] = startServeBinary(t, bin, []string{etcd.Endpoint}, keyFile, DefaultLeaderTTL)
	}
	for i, p := range procs {
		bases[i] = p.base
	}
	leader := waitOneLeader(t, bases, 20*time.Second)
	follower := (leader + 1) % 3
	rg := haSub + "/resourceGroups/kill"
	putJSON(t, bases[follower]+rg+etcdTestAPI, `{"location":"westeurope"}`)

	killed := time.Now()
	procs[leader].proc.Stop(syscall.SIGKILL, 5*time.Second)
	live := append([]string(nil), bases...)
	live[leader] = ""
	// Writes through both followers during the takeover, every 200 ms
	// until a replica leads again and a little after.
	var acked []string
	var asyncs []string
	var took time.Duration
	for n := 0; ; n++ {
		b := bases[(leader+1+n%2)%3]
		id := haID("kill", "localNetworkGateways", fmt.Sprintf("site%d", n))
		st, h, body := send(t, http.MethodPut, b+id+etcdTestAPI, "", "application/json", "",
			fmt.Sprintf(`{"location":"westeurope","properties":{"gatewayIpAddress":"192.0.2.%d","localNetworkAddressSpace":{"addressPrefixes":["192.168.%d.0/24"]}}}`, n%250+1, n%250))
		if st != http.StatusCreated {
			t.Fatalf("PUT %s on a follower during the takeover: %d %s", id, st, body)
		}
		acked, asyncs = append(acked, id), append(asyncs, h.Get("Azure-AsyncOperation"))
		if took == 0 {
			for _, lb := range live {
				if _, hs, err := readyz(lb); lb != "" && err == nil && hs.Leader {
					took = time.Since(killed)
				}
			}
		}
		if took > 0 && time.Since(killed) > took+time.Second {
			break
		}
		if time.Since(killed) > 30*time.Second {
			t.Fatal("no replica leads 30 s after the leader was killed")
		}
		time.Sleep(200 * time.Millisecond)
	}
	next := waitOneLeader(t, live, 5*time.Second)
	t.Logf("leader %d killed (SIGKILL): replica %d leads after %v (lease %v); %d writes accepted meanwhile",
		leader, next, took.Round(time.Millisecond), DefaultLeaderTTL, len(acked))
	if took > DefaultLeaderTTL+3*time.Second {
		t.Errorf("takeover took %v, want within the lease %v + 3s", took, DefaultLeaderTTL)
	}
	for _, b := range live {
		if b == "" {
			continue
		}
		for i, id := range acked {
			waitSucceeded(t, b+id+etcdTestAPI)
			if st, status := opStatus(t, b, asyncs[i]); st != http.StatusOK || status != api.StatusSucceeded {
				t.Fatalf("operation of %s on %s: %d %q", id, b, st, status)
			}
		}
	}
	t.Logf("all %d writes accepted during the takeover completed, seen on both live replicas", len(acked))
}

// TestReplicasEtcdMemberLost runs two replicas on a three-member etcd
// cluster on loopback and kills (SIGKILL) the member etcd elected as its
// leader: the API keeps serving reads and writes on both replicas, and
// exactly one replica still leads.
func TestReplicasEtcdMemberLost(t *testing.T) {
	cluster := etcdtest.StartCluster(t, 3)
	keyFile := filepath.Join(t.TempDir(), "secrets.key")
	bases := make([]string, 2)
	for i := range bases {
		o := etcdOptions(t, cluster.Members[0].Endpoint, "/vpngw/ha/", keyFile)
		o.Store.Etcd.Endpoints = cluster.Endpoints()
		o.LeaderTTL = 3 * time.Second
		addr, _ := startNoneStop(t, o)
		bases[i] = "http://" + addr
	}
	waitOneLeader(t, bases, 15*time.Second)
	rg := haSub + "/resourceGroups/members"
	putJSON(t, bases[0]+rg+etcdTestAPI, `{"location":"westeurope"}`)

	victim, err := cluster.Leader(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("killing etcd member %d (etcd's leader)", victim)
	lost := time.Now()
	cluster.Members[victim].Kill()
	var served time.Duration
	for i := 0; i < 10; i++ {
		lng := haID("members", "localNetworkGateways", fmt.Sprintf("site%d", i))
		b := bases[i%2]
		putJSON(t, b+lng+etcdTestAPI, `{"location":"westeurope","properties":{"gatewayIpAddress":"192.0.2.1","localNetworkAddressSpace":{"addressPrefixes":["192.168.1.0/24"]}}}`)
		waitSucceeded(t, bases[(i+1)%2]+lng+etcdTestAPI)
		if i == 0 {
			served = time.Since(lost)
		}
	}
	t.Logf("first write after losing the member acknowledged and read on the other replica %v after the kill", served.Round(time.Millisecond))
	waitOneLeader(t, bases, 15*time.Second)
	for i, b := range bases {
		if st, h, err := readyz(b); st != http.StatusOK || h.Store.State != "ok" {
			t.Fatalf("replica %d /readyz with 2 of 3 members: %d %+v %v", i, st, h, err)
		}
	}
}

// TestReplicasShareWriterLock races two replicas on one etcd over a rule
// that spans resources: each of 20 rounds PUTs, at the same moment, four
// gateways (two through each replica) that all name the same public IP
// address. The shared writer lock lets exactly one in (201); the others
// are refused (400, the address is already used). Without it (each
// replica locking only itself) two gateways got the address in the first
// round when this was tried.
func TestReplicasShareWriterLock(t *testing.T) {
	etcd := etcdtest.Start(t)
	bases := startEtcdReplicas(t, etcd.Endpoint, "/vpngw/lock/", 2)
	const rounds, racers = 20, 4
	putJSON(t, bases[0]+haSub+"/resourceGroups/lock"+etcdTestAPI, `{"location":"westeurope"}`)
	vnetBody := `{"location":"westeurope","properties":{"addressSpace":{"addressPrefixes":["10.1.0.0/16"]},"subnets":[{"name":"GatewaySubnet","properties":{"addressPrefix":"10.1.255.0/27"}}]}}`
	for r := range rounds {
		for side := range racers {
			putJSON(t, bases[0]+haID("lock", "virtualNetworks", fmt.Sprintf("v%d-%d", r, side))+etcdTestAPI, vnetBody)
		}
		putJSON(t, bases[0]+haID("lock", "publicIPAddresses", fmt.Sprintf("ip%d", r))+etcdTestAPI,
			`{"location":"westeurope","sku":{"name":"Standard"},"properties":{"publicIPAllocationMethod":"Static"}}`)
	}
	for r := range rounds {
		pip := haID("lock", "publicIPAddresses", fmt.Sprintf("ip%d", r))
		var wg sync.WaitGroup
		start := make(chan struct{})
		var codes [racers]int
		for side := range racers {
			vnet := haID("lock", "virtualNetworks", fmt.Sprintf("v%d-%d", r, side))
			body := fmt.Sprintf(`{"location":"westeurope","properties":{"gatewayType":"Vpn","vpnType":"RouteBased","sku":{"name":"VpnGw1"},
				"ipConfigurations":[{"name":"default","properties":{"subnet":{"id":%q},"publicIPAddress":{"id":%q}}}]}}`, vnet+"/subnets/GatewaySubnet", pip)
			url := bases[side%2] + haID("lock", "virtualNetworkGateways", fmt.Sprintf("gw%d-%d", r, side)) + etcdTestAPI
			tok, _ := serverTokens.Load(strings.TrimPrefix(bases[side%2], "http://"))
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				req, _ := http.NewRequest(http.MethodPut, url, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+tok.(string))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return
				}
				resp.Body.Close()
				codes[side] = resp.StatusCode
			}()
		}
		close(start)
		wg.Wait()
		ok := 0
		for _, c := range codes {
			if c == http.StatusCreated {
				ok++
			} else if c != http.StatusBadRequest {
				t.Fatalf("round %d: statuses %v, want one 201 and 400s", r, codes)
			}
		}
		if ok != 1 {
			t.Fatalf("round %d: statuses %v: %d gateways took public IP %s", r, codes, ok, pip)
		}
	}
}
