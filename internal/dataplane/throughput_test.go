package dataplane

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/tstest/nstest"
)

// TestThroughput is a measurement, not a pass/fail test: it runs bounded
// iperf3 transfers (10 s, 1 s omitted) host A -> host B through plain
// routing, this data plane (AES-256-GCM, UDP encapsulation) and, if
// VPNGW_WG_BIN points to a wireguard-go binary, wireguard-go, interleaved in
// each repeat so that the ratios compare like with like on a noisy machine.
//
//	VPNGW_DP_BENCH=3 VPNGW_WG_BIN=/tmp/vdp-bin/wireguard \
//	  go test -run TestThroughput -v -timeout 30m ./internal/dataplane/
//
// VPNGW_DP_BENCH is the number of repeats; VPNGW_DP_STREAMS the iperf3 -P
// values (default "1,4"); VPNGW_DP_MODES a subset of "plain,vpngw,raw,wg";
// VPNGW_DP_PROFILE a directory for CPU profiles of the vpngw runs.
func TestThroughput(t *testing.T) {
	repeats, _ := strconv.Atoi(os.Getenv("VPNGW_DP_BENCH"))
	if repeats <= 0 {
		t.Skip("set VPNGW_DP_BENCH=<repeats> to measure throughput")
	}
	if _, err := exec.LookPath("iperf3"); err != nil {
		t.Skip("iperf3 not installed")
	}
	l := newLab(t, true)
	wgBin := os.Getenv("VPNGW_WG_BIN")
	modes := []string{"plain", "vpngw", "raw"}
	if wgBin != "" {
		modes = append(modes, "wg")
		l.startWireGuard(t, wgBin)
	}
	if m := os.Getenv("VPNGW_DP_MODES"); m != "" {
		modes = strings.Split(m, ",")
	}
	streams := []int{1, 4}
	if s := os.Getenv("VPNGW_DP_STREAMS"); s != "" {
		streams = nil
		for _, f := range strings.Split(s, ",") {
			n, _ := strconv.Atoi(f)
			streams = append(streams, n)
		}
	}
	profDir := os.Getenv("VPNGW_DP_PROFILE")

	srv := l.hostB.Command(t.Context(), "iperf3", "-s", "-p", "5201")
	must(t, l.hostB.Start(srv))
	time.Sleep(300 * time.Millisecond)

	results := map[string][]float64{}
	spi := uint32(0x10000)
	for r := 0; r < repeats; r++ {
		for _, mode := range modes {
			for _, p := range streams {
				switch mode {
				case "plain":
					l.gwA.MustRun(t, "ip", "route", "replace", "10.2.0.0/16", "via", "192.0.2.2", "dev", "wan0")
					l.gwB.MustRun(t, "ip", "route", "replace", "10.1.0.0/16", "via", "192.0.2.1", "dev", "wan0")
				case "vpngw", "raw":
					l.connect(t, mode == "vpngw", spi, spi+1)
					spi += 2
				case "wg":
					l.gwA.MustRun(t, "ip", "route", "replace", "10.2.0.0/16", "dev", "vdpwgA")
					l.gwB.MustRun(t, "ip", "route", "replace", "10.1.0.0/16", "dev", "vdpwgB")
				}
				var prof *os.File
				if profDir != "" && mode != "plain" && mode != "wg" {
					prof, _ = os.Create(filepath.Join(profDir, fmt.Sprintf("%s-P%d-%d.pprof", mode, p, r)))
					pprof.StartCPUProfile(prof)
				}
				gbps := l.iperf(t, p)
				if prof != nil {
					pprof.StopCPUProfile()
					prof.Close()
				}
				key := fmt.Sprintf("%s P%d", mode, p)
				results[key] = append(results[key], gbps)
				t.Logf("run %d %-10s %.3f Gbit/s", r+1, key, gbps)
				switch mode {
				case "plain":
					l.gwA.MustRun(t, "ip", "route", "del", "10.2.0.0/16")
					l.gwB.MustRun(t, "ip", "route", "del", "10.1.0.0/16")
				case "vpngw", "raw":
					must(t, l.dpA.RemoveTunnel("b"))
					must(t, l.dpB.RemoveTunnel("a"))
				case "wg":
					l.gwA.MustRun(t, "ip", "route", "del", "10.2.0.0/16")
					l.gwB.MustRun(t, "ip", "route", "del", "10.1.0.0/16")
				}
			}
		}
	}
	if profDir != "" {
		if f, err := os.Create(filepath.Join(profDir, "allocs.pprof")); err == nil {
			pprof.Lookup("allocs").WriteTo(f, 0)
			f.Close()
		}
	}
	var keys []string
	for k := range results {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := slices.Clone(results[k])
		slices.Sort(v)
		t.Logf("summary %-10s median %.3f min %.3f max %.3f Gbit/s (n=%d)", k, v[len(v)/2], v[0], v[len(v)-1], len(v))
	}
}

// iperf runs one bounded iperf3 client and returns the received Gbit/s.
func (l *lab) iperf(t *testing.T, streams int) float64 {
	t.Helper()
	out, err := l.hostA.Run("timeout", "25", "iperf3", "-c", "10.2.0.10", "-p", "5201", "-t", "10", "-O", "1",
		"-P", strconv.Itoa(streams), "-J")
	if err != nil {
		t.Logf("iperf3: %v", err)
		return 0
	}
	var res struct {
		End struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("iperf3 output: %v", err)
	}
	return res.End.SumReceived.BitsPerSecond / 1e9
}

// startWireGuard runs wireguard-go in both gateways (interfaces vdpwgA and
// vdpwgB, UDP 51820), configured with wg(8), without routes.
func (l *lab) startWireGuard(t *testing.T, bin string) {
	t.Helper()
	dir := t.TempDir()
	keys := map[string]string{}
	for _, s := range []string{"A", "B"} {
		k, err := exec.Command("wg", "genkey").Output()
		must(t, err)
		os.WriteFile(filepath.Join(dir, s+".key"), k, 0o600)
		cmd := exec.Command("wg", "pubkey")
		cmd.Stdin = strings.NewReader(string(k))
		pub, err := cmd.Output()
		must(t, err)
		keys[s] = strings.TrimSpace(string(pub))
	}
	for _, s := range []struct {
		ns              *nstest.NS
		name, peer, end string
		allowed         string
	}{
		{l.gwA, "A", "B", "192.0.2.2:51820", "10.2.0.0/16"},
		{l.gwB, "B", "A", "192.0.2.1:51820", "10.1.0.0/16"},
	} {
		dev := "vdpwg" + s.name
		sock := "/var/run/wireguard/" + dev + ".sock"
		os.Remove(sock) // stale from a killed run: wg would fall back to kernel netlink
		t.Cleanup(func() { os.Remove(sock) })
		cmd := s.ns.Command(t.Context(), "env", "LOG_LEVEL=error", bin, "-f", dev)
		must(t, s.ns.Start(cmd))
		nstest.WaitFor(t, 5*time.Second, func() bool {
			_, err := os.Stat(sock)
			return err == nil
		}, "wireguard-go %s did not start", dev)
		s.ns.MustRun(t, "wg", "set", dev, "private-key", filepath.Join(dir, s.name+".key"), "listen-port", "51820",
			"peer", keys[s.peer], "endpoint", s.end, "allowed-ips", s.allowed)
		s.ns.MustRun(t, "ip", "link", "set", dev, "up")
	}
	_ = netip.Addr{}
}
