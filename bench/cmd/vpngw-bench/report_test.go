package main

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestStat(t *testing.T) {
	for _, tc := range []struct {
		in          []float64
		median, p90 float64
	}{
		{[]float64{3}, 3, 3},
		{[]float64{4, 1}, 2.5, 4},
		{[]float64{5, 1, 3}, 3, 5},
		{[]float64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}, 5.5, 9},
		{[]float64{20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1}, 10.5, 18},
	} {
		s := stat(tc.in)
		if !near(s.Median, tc.median) || !near(s.P90, tc.p90) || s.N != len(tc.in) {
			t.Errorf("stat(%v) = %+v, want median %v p90 %v", tc.in, s, tc.median, tc.p90)
		}
	}
	if s := stat(nil); s.N != 0 {
		t.Errorf("stat(nil) = %+v", s)
	}
}

func TestParseProcStat(t *testing.T) {
	for _, tc := range []struct {
		line string
		want uint64
		err  bool
	}{
		{"1234 (vpngw) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 8 0 1000 0 0", 325, false},
		{"99 (a b) c)) R 1 1 1 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0 1 0 0", 10, false},
		{"99 no-paren R 1", 0, true},
		{"99 (x) R 1 2", 0, true},
	} {
		got, err := parseProcStat(tc.line)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("parseProcStat(%q) = %d, %v; want %d, err %v", tc.line, got, err, tc.want, tc.err)
		}
	}
}

func TestParseSNMPUDPIn(t *testing.T) {
	const snmp = "Ip: Forwarding DefaultTTL\nIp: 1 64\n" +
		"Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors\n" +
		"Udp: 2877 11 0 2892 0 0 0 0 0\n" +
		"UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors\n" +
		"UdpLite: 5 0 0 0 0 0 0 0 0\n"
	for _, tc := range []struct {
		name, in string
		want     uint64
		err      bool
	}{
		{"kernel's", snmp, 2877, false},
		{"columns moved", "Udp: NoPorts InDatagrams\nUdp: 4 9\n", 9, false},
		{"no Udp line", "Ip: Forwarding\nIp: 1\n", 0, true},
		{"UdpLite only", "UdpLite: InDatagrams\nUdpLite: 5\n", 0, true},
		{"no values", "Udp: InDatagrams\n", 0, true},
		{"not a number", "Udp: InDatagrams\nUdp: x\n", 0, true},
	} {
		got, err := parseSNMPUDPIn(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("%s: parseSNMPUDPIn = %d, %v; want %d, err %v", tc.name, got, err, tc.want, tc.err)
		}
	}
}

func TestParseBoxBusy(t *testing.T) {
	// user nice system idle iowait irq softirq steal guest guest_nice
	got, err := parseBoxBusy("cpu  100 5 50 1000 30 2 8 40 0 0")
	if err != nil || got != 165 {
		t.Fatalf("parseBoxBusy = %d, %v; want 165", got, err)
	}
	if _, err := parseBoxBusy("cpu0 1 2 3 4 5 6 7"); err == nil {
		t.Fatal("per-CPU line accepted")
	}
}

func TestFillCPU(t *testing.T) {
	t0 := time.Unix(100, 0)
	a := cpuSnapshot{at: t0, daemons: []uint64{1000, 2000}, boxBusy: 5000}
	b := cpuSnapshot{at: t0.Add(2 * time.Second), daemons: []uint64{1100, 2150}, boxBusy: 5300}
	s := ThroughputSample{Gbps: 2.5}
	fillCPU(&s, a, b, 100)
	// 100 and 150 ticks over 2 s at 100 Hz: 0.5 and 0.75 cores; box 1.5 cores.
	if !near(s.WindowSeconds, 2) || len(s.DaemonCores) != 2 || !near(s.DaemonCores[0], 0.5) || !near(s.DaemonCores[1], 0.75) {
		t.Fatalf("cores: %+v", s)
	}
	if !near(s.DaemonCPUPerGbit, 1.25/2.5) || !near(s.BoxCores, 1.5) || !near(s.BoxCPUPerGbit, 1.5/2.5) {
		t.Fatalf("per Gbit: %+v", s)
	}
}

func TestBuildReportRatios(t *testing.T) {
	tp := []ThroughputSample{
		// Repeat 1: a slow repeat for everyone; repeat 2 fast; repeat 3's
		// wireguard-go run failed and must not pair.
		{Repeat: 1, Mode: "wireguard-go", Streams: 1, Gbps: 1.0, DaemonCores: []float64{0.5, 0.5}, DaemonCPUPerGbit: 1.0, BoxCPUPerGbit: 2},
		{Repeat: 1, Mode: "vpngw-udp", Streams: 1, Gbps: 1.5, DaemonCores: []float64{0.4, 0.35}, DaemonCPUPerGbit: 0.5, BoxCPUPerGbit: 1},
		{Repeat: 1, Mode: "strongswan", Streams: 1, Gbps: 0.25, DaemonCores: []float64{1, 1}, DaemonCPUPerGbit: 8, BoxCPUPerGbit: 8},
		{Repeat: 2, Mode: "wireguard-go", Streams: 1, Gbps: 2.0, DaemonCores: []float64{1, 1}, DaemonCPUPerGbit: 1.0, BoxCPUPerGbit: 1},
		{Repeat: 2, Mode: "vpngw-udp", Streams: 1, Gbps: 2.0, DaemonCores: []float64{1, 1}, DaemonCPUPerGbit: 1.0, BoxCPUPerGbit: 1},
		{Repeat: 2, Mode: "strongswan", Streams: 1, Gbps: 0.4, DaemonCores: []float64{1, 1}, DaemonCPUPerGbit: 5, BoxCPUPerGbit: 5},
		{Repeat: 3, Mode: "wireguard-go", Streams: 1, Error: "iperf3 received nothing"},
		{Repeat: 3, Mode: "vpngw-udp", Streams: 1, Gbps: 9, DaemonCores: []float64{1, 1}, DaemonCPUPerGbit: 0.2, BoxCPUPerGbit: 0.2},
		{Repeat: 3, Mode: "strongswan", Streams: 1, Gbps: 1.0, DaemonCores: []float64{1, 1}, DaemonCPUPerGbit: 2, BoxCPUPerGbit: 2},
		{Repeat: 1, Mode: "plain", Streams: 1, Gbps: 10, BoxCPUPerGbit: 0.2},
	}
	su := []SetupSample{
		{Impl: "vpngw", ClientMs: 4, AgentMs: 3}, {Impl: "vpngw", ClientMs: 6, AgentMs: 5},
		{Impl: "strongswan", ClientMs: 5}, {Impl: "strongswan", ClientMs: 7},
	}
	r := buildReport(map[string]string{"started": "test"}, tp, su, nil)

	for _, tc := range []struct {
		mode, base, metric string
		want               float64
	}{
		{"vpngw-udp", "wireguard-go", "throughput", (1.5 + 1.0) / 2}, // repeats 1 and 2 only
		{"vpngw-udp", "strongswan", "throughput", 6},                 // 6, 5, 9
		{"vpngw-udp", "plain", "throughput", 0.15},                   // repeat 1 only
		{"vpngw-udp", "wireguard-go", "daemonCpuPerGbit", 0.75},      // 0.5, 1.0
		{"vpngw-udp", "strongswan", "daemonCpuPerGbit", 0.1},         // 1/16, 1/5, 1/10
	} {
		got, ok := r.ratio(tc.mode, tc.base, 1, tc.metric)
		if !ok || !near(got, tc.want) {
			t.Errorf("%s %s/%s = %v (found %v), want %v", tc.metric, tc.mode, tc.base, got, ok, tc.want)
		}
	}
	if _, ok := r.ratio("vpngw-udp", "plain", 1, "daemonCpuPerGbit"); ok {
		t.Error("daemon CPU ratio against plain routing (which has no daemon)")
	}
	if s := r.summary("wireguard-go", 1); s == nil || s.Failed != 1 || s.Gbps.N != 2 {
		t.Errorf("wireguard-go summary: %+v", s)
	}
	if len(r.Failures) != 1 || !strings.Contains(r.Failures[0], "repeat 3 wireguard-go P1") {
		t.Errorf("failures: %v", r.Failures)
	}
	if q := r.setupRatio(protoIKEv2); q == nil || !near(q.Median, 5.0/6.0) || !near(q.P90, 6.0/7.0) {
		t.Errorf("setup ratio: %+v", q)
	}
	met := map[string]bool{}
	for _, tg := range r.Targets {
		met[tg.Name] = tg.Met
	}
	want := map[string]bool{
		"vpngw-udp / wireguard-go throughput, 1 stream": false, // 1.25× < 2×
		"vpngw-udp / strongSwan throughput, 1 stream":   false, // 6× < 8×
		"vpngw / strongSwan setup latency (median)":     true,
	}
	for k, v := range want {
		if got, ok := met[k]; !ok || got != v {
			t.Errorf("target %q: met=%v (present %v), want %v; all: %+v", k, got, ok, v, r.Targets)
		}
	}
	md := r.Markdown()
	for _, s := range []string{"| vpngw-udp ", "1.25×", "NOT MET", "≥ 2.0×", "≥ 8.0×", "failed"} {
		if !strings.Contains(md, s) {
			t.Errorf("markdown lacks %q:\n%s", s, md)
		}
	}
}

func TestBuildReportSetup(t *testing.T) {
	v1 := func(rep int, impl string, ms float64) SetupSample {
		return SetupSample{Repeat: rep, Impl: impl, Protocol: protoIKEv1, ClientMs: ms}
	}
	const (
		v2Target = "vpngw / strongSwan setup latency (median)"
		v1Target = "vpngw / strongSwan IKEv1 setup latency (median)"
	)
	type ratio struct {
		median, p90, repeatMedian float64
		perRepeat                 []float64
	}
	for _, tc := range []struct {
		name    string
		su      []SetupSample
		ratios  map[string]ratio // by protocol; absent: no ratio
		targets map[string]bool  // name → met; no other setup target
		md      []string         // in the markdown
		notMD   []string         // not in the markdown
	}{
		{
			name: "unlabelled samples are IKEv2",
			su: []SetupSample{{Repeat: 1, Impl: "vpngw", ClientMs: 2}, {Repeat: 1, Impl: "strongswan", ClientMs: 4},
				{Repeat: 2, Impl: "vpngw", ClientMs: 3, Protocol: protoIKEv2}, {Repeat: 2, Impl: "strongswan", ClientMs: 5}},
			ratios:  map[string]ratio{protoIKEv2: {median: 2.5 / 4.5, p90: 3.0 / 5.0, repeatMedian: (0.5 + 0.6) / 2, perRepeat: []float64{0.5, 0.6}}},
			targets: map[string]bool{v2Target: true},
			md:      []string{"## IKE_SA+CHILD_SA setup latency", "0.56×", "[0.50 0.60]"},
			notMD:   []string{"IKEv1 setup latency"},
		},
		{
			name: "IKEv1 beside IKEv2, per-repeat ratios of the repeats both ran",
			su: []SetupSample{
				{Repeat: 1, Impl: "vpngw", ClientMs: 2}, {Repeat: 1, Impl: "strongswan", ClientMs: 1},
				v1(1, "vpngw", 4), v1(1, "vpngw", 6), v1(1, "strongswan", 20), v1(1, "strongswan", 30),
				v1(2, "vpngw", 9), v1(2, "strongswan", 20),
				v1(3, "vpngw", 5), v1(3, "strongswan", 10), v1(3, "strongswan", 12),
				v1(4, "vpngw", 1), // strongSwan failed in repeat 4: no ratio for it
			},
			ratios: map[string]ratio{
				protoIKEv2: {median: 2, p90: 2, repeatMedian: 2, perRepeat: []float64{2}},
				// vpngw 1 4 5 6 9: median 5, p90 9; strongSwan 10 12 20 20 30: median 20, p90 30.
				protoIKEv1: {median: 0.25, p90: 0.3, repeatMedian: 0.45, perRepeat: []float64{5.0 / 25, 9.0 / 20, 5.0 / 11}},
			},
			targets: map[string]bool{v2Target: false, v1Target: true},
			md:      []string{"## IKEv1 setup latency (Main Mode + Quick Mode)", "0.25×", "0.45× [0.20 0.45 0.45]", "| " + v1Target + " | ≤ 0.5× | 0.25× | MET"},
		},
		{
			name:    "IKEv1 over the goal",
			su:      []SetupSample{v1(1, "vpngw", 6), v1(1, "strongswan", 10)},
			ratios:  map[string]ratio{protoIKEv1: {median: 0.6, p90: 0.6, repeatMedian: 0.6, perRepeat: []float64{0.6}}},
			targets: map[string]bool{v1Target: false},
			md:      []string{"NOT MET"},
			notMD:   []string{"## IKE_SA+CHILD_SA setup latency"},
		},
		{
			name:    "one implementation only: no ratio, no target",
			su:      []SetupSample{v1(1, "vpngw", 6), v1(2, "vpngw", 7)},
			targets: map[string]bool{},
			md:      []string{"## IKEv1 setup latency", "| vpngw "},
			notMD:   []string{"vpngw / strongswan"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := buildReport(map[string]string{}, nil, tc.su, nil)
			for _, proto := range []string{protoIKEv2, protoIKEv1} {
				q := r.setupRatio(proto)
				want, ok := tc.ratios[proto]
				if (q != nil) != ok {
					t.Fatalf("%s ratio %+v, want present %v", proto, q, ok)
				}
				if !ok {
					continue
				}
				if !near(q.Median, want.median) || !near(q.P90, want.p90) || !near(q.RepeatMedian, want.repeatMedian) || len(q.PerRepeat) != len(want.perRepeat) {
					t.Fatalf("%s ratio %+v, want %+v", proto, q, want)
				}
				for i := range want.perRepeat {
					if !near(q.PerRepeat[i], want.perRepeat[i]) {
						t.Fatalf("%s per-repeat %v, want %v", proto, q.PerRepeat, want.perRepeat)
					}
				}
			}
			got := map[string]bool{}
			for _, tg := range r.Targets {
				got[tg.Name] = tg.Met
			}
			if len(got) != len(tc.targets) {
				t.Errorf("targets %+v, want %v", r.Targets, tc.targets)
			}
			for k, v := range tc.targets {
				if m, ok := got[k]; !ok || m != v {
					t.Errorf("target %q met=%v (present %v), want %v", k, m, ok, v)
				}
			}
			md := r.Markdown()
			for _, s := range tc.md {
				if !strings.Contains(md, s) {
					t.Errorf("markdown lacks %q:\n%s", s, md)
				}
			}
			for _, s := range tc.notMD {
				if strings.Contains(md, s) {
					t.Errorf("markdown has %q:\n%s", s, md)
				}
			}
		})
	}
}

func TestReadJSONLines(t *testing.T) {
	dir := t.TempDir()
	if got, err := readJSONLines[SetupSample](dir, setupFile); err != nil || got != nil {
		t.Fatalf("missing file: %v, %v", got, err)
	}
	for _, s := range []SetupSample{{Impl: "vpngw", ClientMs: 1}, {Impl: "strongswan", ClientMs: 2}} {
		if err := appendJSONLine(dir, setupFile, s); err != nil {
			t.Fatal(err)
		}
	}
	got, err := readJSONLines[SetupSample](dir, setupFile)
	if err != nil || len(got) != 2 || got[1].Impl != "strongswan" {
		t.Fatalf("got %+v, %v", got, err)
	}
	if err := os.WriteFile(filepath.Join(dir, throughputFile), []byte("{\"mode\":\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readJSONLines[ThroughputSample](dir, throughputFile); err == nil {
		t.Fatal("truncated line accepted")
	}
}

// TestBuildReportBeforeModes: each "before" mode is compared with its own
// encapsulation only, and has no targets of its own.
func TestBuildReportBeforeModes(t *testing.T) {
	var tp []ThroughputSample
	for _, s := range []struct {
		mode string
		gbps float64
	}{{"vpngw-udp", 3}, {"vpngw-esp", 2}, {"vpngw-before", 1.5}, {"vpngw-before-esp", 0.8}, {"wireguard-go", 1}} {
		tp = append(tp, ThroughputSample{Repeat: 1, Mode: s.mode, Streams: 1, Gbps: s.gbps, DaemonCores: []float64{1}, DaemonCPUPerGbit: 1, BoxCPUPerGbit: 1})
	}
	r := buildReport(map[string]string{"started": "test"}, tp, nil, nil)
	for _, tc := range []struct {
		mode, base string
		want       float64 // 0: no such ratio
	}{
		{"vpngw-udp", "vpngw-before", 2},
		{"vpngw-esp", "vpngw-before-esp", 2.5},
		{"vpngw-esp", "vpngw-before", 0},
		{"vpngw-udp", "vpngw-before-esp", 0},
		{"vpngw-before-esp", "wireguard-go", 0.8},
	} {
		got, ok := r.ratio(tc.mode, tc.base, 1, "throughput")
		if ok != (tc.want != 0) || (ok && !near(got, tc.want)) {
			t.Errorf("%s/%s = %v (found %v), want %v", tc.mode, tc.base, got, ok, tc.want)
		}
	}
	got := map[string]Target{}
	for _, tg := range r.Targets {
		if strings.Contains(tg.Name, "before") {
			t.Errorf("target for a before mode: %+v", tg)
		}
		got[tg.Name] = tg
	}
	// Issue 15: ≥ 2× wireguard-go with UDP encapsulation, ≥ 1.5× raw ESP.
	for name, want := range map[string]Target{
		"vpngw-udp / wireguard-go throughput, 1 stream": {Want: "≥ 2.0×", Met: true}, // 3×
		"vpngw-esp / wireguard-go throughput, 1 stream": {Want: "≥ 1.5×", Met: true}, // 2×
	} {
		if g, ok := got[name]; !ok || g.Want != want.Want || g.Met != want.Met {
			t.Errorf("target %q = %+v (present %v), want %s met=%v", name, g, ok, want.Want, want.Met)
		}
	}
}

// TestScrapeReport: the status socket's table gives each implementation's
// median CPU per request of each kind and vpngw's ratio to vpngw-before per
// repeat.
func TestScrapeReport(t *testing.T) {
	dir := t.TempDir()
	lines := `{"impl":"vpngw","n":100,"repeat":1,"encoding":"plain","cpuMs":20,"wallMs":40,"bytes":2000,"scrapes":10}
{"impl":"vpngw-before","n":100,"repeat":1,"encoding":"plain","cpuMs":100,"wallMs":90,"bytes":2000,"scrapes":10}
{"impl":"vpngw","n":100,"repeat":2,"encoding":"plain","cpuMs":30,"wallMs":40,"bytes":2000,"scrapes":10}
{"impl":"vpngw-before","n":100,"repeat":2,"encoding":"plain","cpuMs":120,"wallMs":90,"bytes":2000,"scrapes":10}
{"impl":"vpngw","n":100,"repeat":1,"encoding":"gzip","cpuMs":25,"wallMs":40,"bytes":300,"scrapes":10}
{"impl":"vpngw","n":100,"repeat":1,"encoding":"status-summary","cpuMs":1,"wallMs":5,"bytes":900,"scrapes":10}
{"impl":"vpngw-before","n":100,"repeat":1,"encoding":"status-summary","cpuMs":50,"wallMs":60,"bytes":90000,"scrapes":10}
`
	if err := os.WriteFile(filepath.Join(dir, scrapeFile), []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := writeScrapeReport(dir, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| 100 | plain | vpngw | 25.00 | 20.0 30.0 | 2000 | 0.225 | 0.20 0.25 |",
		"| 100 | plain | vpngw-before | 110 | 100.0 120.0 | 2000 | – |  |",
		"| 100 | gzip | vpngw | 25.00 | 25.0 | 300 | – |  |",
		"| 100 | status-summary | vpngw | 1.00 | 1.0 | 900 | 0.020 | 0.020 |",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}
