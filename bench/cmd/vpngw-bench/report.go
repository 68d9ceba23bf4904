package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
)

// Mode labels written by scripts/bench.sh.
const (
	modePlain     = "plain"
	modeWireGuard = "wireguard-go"
	modeSwan      = "strongswan"
)

// modeOrder is the display order; other modes follow alphabetically.
var modeOrder = []string{modePlain, "vpngw-udp", "vpngw-esp", modeBefore, modeBeforeESP, modeSwan, modeWireGuard}

// baselines are what vpngw modes are compared against.
var baselines = []string{modeWireGuard, modeSwan, modePlain, modeBefore, modeBeforeESP}

// modeBefore is another vpngw binary (VPNGW_BEFORE) run with UDP
// encapsulation in the same pass: vpngw-udp / vpngw-before is a same-run
// before/after comparison of a change.
const modeBefore = "vpngw-before"

// modeBeforeESP is the VPNGW_BEFORE binary run as vpngw-esp (raw ESP):
// vpngw-esp / vpngw-before-esp is the same comparison for raw ESP.
const modeBeforeESP = "vpngw-before-esp"

// beforeOf is a vpngw mode's same-run "before" mode ("" for none).
func beforeOf(mode string) string {
	switch mode {
	case "vpngw-udp":
		return modeBefore
	case "vpngw-esp":
		return modeBeforeESP
	}
	return ""
}

// isBefore reports whether mode runs the VPNGW_BEFORE binary.
func isBefore(mode string) bool { return mode == modeBefore || mode == modeBeforeESP }

// metaFlag collects -meta key=value pairs.
type metaFlag map[string]string

func (m metaFlag) String() string { return fmt.Sprint(map[string]string(m)) }

func (m metaFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q is not key=value", s)
	}
	m[k] = v
	return nil
}

// Stat summarises a set of samples.
type Stat struct {
	N      int     `json:"n"`
	Median float64 `json:"median"`
	P90    float64 `json:"p90"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

func stat(v []float64) Stat {
	if len(v) == 0 {
		return Stat{}
	}
	s := slices.Clone(v)
	sort.Float64s(s)
	return Stat{N: len(s), Median: median(s), P90: percentile(s, 0.9), Min: s[0], Max: s[len(s)-1]}
}

// median of v (the mean of the two middle values for an even count).
func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// percentile is the nearest-rank percentile of sorted v (0 < p <= 1).
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// ModeSummary is one mode at one stream count over all repeats.
type ModeSummary struct {
	Mode    string `json:"mode"`
	Streams int    `json:"streams"`
	// Gbps is iperf3's received rate.
	Gbps Stat `json:"gbps"`
	// DaemonCPUPerGbit and BoxCPUPerGbit are CPU-seconds per Gbit
	// transferred (see ThroughputSample).
	DaemonCPUPerGbit Stat `json:"daemonCpuSecondsPerGbit"`
	BoxCPUPerGbit    Stat `json:"boxCpuSecondsPerGbit"`
	// DaemonCores and BoxCores are the cores busy during the transfer.
	DaemonCores Stat `json:"daemonCores"`
	BoxCores    Stat `json:"boxCores"`
	// Failed counts runs that failed (left out of the figures).
	Failed int `json:"failed,omitempty"`
}

// Ratio compares a vpngw mode with a baseline: the median of the
// per-repeat ratios (each repeat ran both back to back).
type Ratio struct {
	Mode     string `json:"mode"`
	Baseline string `json:"baseline"`
	Streams  int    `json:"streams"`
	// Metric is "throughput" (higher is better), "daemonCpuPerGbit" or
	// "boxCpuPerGbit" (lower is better).
	Metric    string    `json:"metric"`
	Median    float64   `json:"median"`
	PerRepeat []float64 `json:"perRepeat"`
}

// SetupSummary is one implementation's setup latency with one protocol.
type SetupSummary struct {
	Impl     string `json:"impl"`
	Protocol string `json:"protocol"` // IKEv2 or IKEv1
	ClientMs Stat   `json:"clientMs"`
	AgentMs  Stat   `json:"agentMs,omitzero"`
}

// SetupRatio compares vpngw's setup latency with strongSwan's for one
// protocol (client round trips; lower is better for vpngw).
type SetupRatio struct {
	Protocol string `json:"protocol"`
	// Median and P90 are vpngw's median (p90) over strongSwan's, all
	// cycles of the run pooled.
	Median float64 `json:"median"`
	P90    float64 `json:"p90"`
	// PerRepeat is each repeat's vpngw median over its strongSwan median
	// (both series of a repeat ran back to back); RepeatMedian their median.
	PerRepeat    []float64 `json:"perRepeat"`
	RepeatMedian float64   `json:"repeatMedian"`
}

// setupProtocols are the setup latency series, in display order, with
// the target ratio vpngw / strongSwan (median) of each.
var setupProtocols = []struct {
	proto, target string
	want          float64
}{
	{protoIKEv2, "vpngw / strongSwan setup latency (median)", 1.0},
	{protoIKEv1, "vpngw / strongSwan IKEv1 setup latency (median)", 0.5},
}

// Target is one goal of the benchmark issue.
type Target struct {
	Name string  `json:"name"`
	Want string  `json:"want"`
	Got  float64 `json:"got"`
	Met  bool    `json:"met"`
}

// Report is results.json.
type Report struct {
	Meta        map[string]string `json:"meta"`
	Throughput  []ModeSummary     `json:"throughput"`
	Ratios      []Ratio           `json:"ratios"`
	Setup       []SetupSummary    `json:"setup"`
	SetupRatios []SetupRatio      `json:"setupRatios,omitempty"` // vpngw / strongSwan per protocol
	Targets     []Target          `json:"targets"`
	Failures    []string          `json:"failures,omitempty"`
	// Background is the box's busy cores before each repeat, with no
	// benchmark traffic: the share of the machine other users took.
	Background []IdleSample `json:"background,omitempty"`
	Samples    struct {
		Throughput []ThroughputSample `json:"throughput"`
		Setup      []SetupSample      `json:"setup"`
	} `json:"samples"`
}

// readJSONLines decodes every line of dir/name into a T (a missing file is
// no samples).
func readJSONLines[T any](dir, name string) ([]T, error) {
	f, err := os.Open(filepath.Join(dir, name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, n, err)
		}
		out = append(out, v)
	}
	return out, sc.Err()
}

// Throughput targets (issue 15): vpngw ≥ 2× wireguard-go with UDP
// encapsulation, ≥ 1.5× with raw ESP, ≥ 8× strongSwan, at 1 and 4 streams.
const (
	wireGuardTargetUDP = 2.0
	wireGuardTargetESP = 1.5
	swanTarget         = 8.0
)

// wireGuardTarget is mode's throughput target against wireguard-go.
func wireGuardTarget(mode string) float64 {
	if mode == "vpngw-esp" {
		return wireGuardTargetESP
	}
	return wireGuardTargetUDP
}

// buildReport computes summaries, ratios and targets from the samples.
func buildReport(meta map[string]string, tp []ThroughputSample, su []SetupSample, failures []string) Report {
	r := Report{Meta: meta, Failures: failures}
	r.Samples.Throughput, r.Samples.Setup = tp, su
	if r.Samples.Throughput == nil {
		r.Samples.Throughput = []ThroughputSample{}
	}
	if r.Samples.Setup == nil {
		r.Samples.Setup = []SetupSample{}
	}

	type key struct {
		mode    string
		streams int
	}
	ok := map[key][]ThroughputSample{}
	failed := map[key]int{}
	byRepeat := map[key]map[int]ThroughputSample{}
	var keys []key
	for _, s := range tp {
		k := key{s.Mode, s.Streams}
		if _, seen := ok[k]; !seen {
			if _, seen := failed[k]; !seen {
				keys = append(keys, k)
			}
		}
		if s.Error != "" {
			failed[k]++
			r.Failures = append(r.Failures, fmt.Sprintf("repeat %d %s P%d: %s", s.Repeat, s.Mode, s.Streams, s.Error))
			continue
		}
		ok[k] = append(ok[k], s)
		if byRepeat[k] == nil {
			byRepeat[k] = map[int]ThroughputSample{}
		}
		byRepeat[k][s.Repeat] = s
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := modeRank(keys[i].mode), modeRank(keys[j].mode)
		if a != b {
			return a < b
		}
		if keys[i].mode != keys[j].mode {
			return keys[i].mode < keys[j].mode
		}
		return keys[i].streams < keys[j].streams
	})
	for _, k := range keys {
		var g, dc, bc, dcore, bcore []float64
		for _, s := range ok[k] {
			g = append(g, s.Gbps)
			bc = append(bc, s.BoxCPUPerGbit)
			bcore = append(bcore, s.BoxCores)
			if len(s.DaemonCores) > 0 {
				dc = append(dc, s.DaemonCPUPerGbit)
				dcore = append(dcore, sum(s.DaemonCores))
			}
		}
		r.Throughput = append(r.Throughput, ModeSummary{Mode: k.mode, Streams: k.streams, Gbps: stat(g),
			DaemonCPUPerGbit: stat(dc), BoxCPUPerGbit: stat(bc), DaemonCores: stat(dcore), BoxCores: stat(bcore),
			Failed: failed[k]})
	}

	ratio := func(mode, base string, streams int, metric string, f func(ThroughputSample) float64) {
		m, b := byRepeat[key{mode, streams}], byRepeat[key{base, streams}]
		var per []float64
		var reps []int
		for rep := range m {
			reps = append(reps, rep)
		}
		sort.Ints(reps)
		for _, rep := range reps {
			bs, okb := b[rep]
			if !okb {
				continue
			}
			x, y := f(m[rep]), f(bs)
			if x > 0 && y > 0 {
				per = append(per, x/y)
			}
		}
		if len(per) > 0 {
			r.Ratios = append(r.Ratios, Ratio{Mode: mode, Baseline: base, Streams: streams, Metric: metric,
				Median: median(per), PerRepeat: per})
		}
	}
	for _, k := range keys {
		if !isVPNGW(k.mode) {
			continue
		}
		for _, base := range baselines {
			// vpngw-before runs with UDP encapsulation, vpngw-before-esp
			// with raw ESP: each is compared with its own mode only.
			if base == k.mode || (isBefore(base) && beforeOf(k.mode) != base) {
				continue
			}
			ratio(k.mode, base, k.streams, "throughput", func(s ThroughputSample) float64 { return s.Gbps })
			if base != modePlain {
				ratio(k.mode, base, k.streams, "daemonCpuPerGbit", func(s ThroughputSample) float64 { return s.DaemonCPUPerGbit })
			}
			ratio(k.mode, base, k.streams, "boxCpuPerGbit", func(s ThroughputSample) float64 { return s.BoxCPUPerGbit })
		}
	}

	for _, sp := range setupProtocols {
		r.addSetup(sp.proto, su)
	}

	for _, k := range keys {
		if !isVPNGW(k.mode) || isBefore(k.mode) {
			continue
		}
		if q, found := r.ratio(k.mode, modeWireGuard, k.streams, "throughput"); found {
			want := wireGuardTarget(k.mode)
			r.Targets = append(r.Targets, Target{Name: fmt.Sprintf("%s / wireguard-go throughput, %s", k.mode, streamsLabel(k.streams)),
				Want: fmt.Sprintf("≥ %.1f×", want), Got: q, Met: q >= want})
		}
		if q, found := r.ratio(k.mode, modeSwan, k.streams, "throughput"); found {
			r.Targets = append(r.Targets, Target{Name: fmt.Sprintf("%s / strongSwan throughput, %s", k.mode, streamsLabel(k.streams)),
				Want: fmt.Sprintf("≥ %.1f×", swanTarget), Got: q, Met: q >= swanTarget})
		}
	}
	for _, sp := range setupProtocols {
		if q := r.setupRatio(sp.proto); q != nil {
			r.Targets = append(r.Targets, Target{Name: sp.target, Want: fmt.Sprintf("≤ %.1f×", sp.want), Got: q.Median, Met: q.Median <= sp.want})
		}
	}
	return r
}

// addSetup summarises the setup samples of one protocol: each
// implementation's latency and, with both, the ratio vpngw / strongSwan.
func (r *Report) addSetup(proto string, su []SetupSample) {
	type series struct{ client, agent []float64 }
	all := map[string]*series{}
	perRep := map[string]map[int][]float64{} // impl → repeat → client ms
	for _, s := range su {
		if s.protocol() != proto {
			continue
		}
		if all[s.Impl] == nil {
			all[s.Impl], perRep[s.Impl] = &series{}, map[int][]float64{}
		}
		all[s.Impl].client = append(all[s.Impl].client, s.ClientMs)
		if s.AgentMs > 0 {
			all[s.Impl].agent = append(all[s.Impl].agent, s.AgentMs)
		}
		perRep[s.Impl][s.Repeat] = append(perRep[s.Impl][s.Repeat], s.ClientMs)
	}
	for _, impl := range []string{"vpngw", modeSwan} {
		if x := all[impl]; x != nil {
			r.Setup = append(r.Setup, SetupSummary{Impl: impl, Protocol: proto, ClientMs: stat(x.client), AgentMs: stat(x.agent)})
		}
	}
	v, w := r.setup("vpngw", proto), r.setup(modeSwan, proto)
	if v == nil || w == nil {
		return
	}
	q := SetupRatio{Protocol: proto, Median: v.ClientMs.Median / w.ClientMs.Median, P90: v.ClientMs.P90 / w.ClientMs.P90}
	var reps []int
	for rep := range perRep["vpngw"] {
		if _, ok := perRep[modeSwan][rep]; ok {
			reps = append(reps, rep)
		}
	}
	sort.Ints(reps)
	for _, rep := range reps {
		q.PerRepeat = append(q.PerRepeat, median(perRep["vpngw"][rep])/median(perRep[modeSwan][rep]))
	}
	if len(q.PerRepeat) > 0 {
		q.RepeatMedian = median(q.PerRepeat)
	}
	r.SetupRatios = append(r.SetupRatios, q)
}

func (r *Report) setup(impl, proto string) *SetupSummary {
	for i := range r.Setup {
		if r.Setup[i].Impl == impl && r.Setup[i].Protocol == proto {
			return &r.Setup[i]
		}
	}
	return nil
}

func (r *Report) setupRatio(proto string) *SetupRatio {
	for i := range r.SetupRatios {
		if r.SetupRatios[i].Protocol == proto {
			return &r.SetupRatios[i]
		}
	}
	return nil
}

func (r *Report) ratio(mode, base string, streams int, metric string) (float64, bool) {
	q, ok := r.ratioEntry(mode, base, streams, metric)
	return q.Median, ok
}

func (r *Report) ratioEntry(mode, base string, streams int, metric string) (Ratio, bool) {
	for _, q := range r.Ratios {
		if q.Mode == mode && q.Baseline == base && q.Streams == streams && q.Metric == metric {
			return q, true
		}
	}
	return Ratio{}, false
}

func (r *Report) summary(mode string, streams int) *ModeSummary {
	for i := range r.Throughput {
		if r.Throughput[i].Mode == mode && r.Throughput[i].Streams == streams {
			return &r.Throughput[i]
		}
	}
	return nil
}

func isVPNGW(mode string) bool { return strings.HasPrefix(mode, "vpngw") }

func modeRank(m string) int {
	if i := slices.Index(modeOrder, m); i >= 0 {
		return i
	}
	return len(modeOrder)
}

func sum(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s
}

func streamsLabel(p int) string {
	if p == 1 {
		return "1 stream"
	}
	return fmt.Sprintf("%d streams", p)
}

// writeReport reads the samples in dir, writes results.json and results.md
// and prints the markdown to w.
func writeReport(dir string, meta map[string]string, w io.Writer) error {
	tp, err := readJSONLines[ThroughputSample](dir, throughputFile)
	if err != nil {
		return err
	}
	su, err := readJSONLines[SetupSample](dir, setupFile)
	if err != nil {
		return err
	}
	idle, err := readJSONLines[IdleSample](dir, idleFile)
	if err != nil {
		return err
	}
	var failures []string
	if b, err := os.ReadFile(filepath.Join(dir, "failures.txt")); err == nil {
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if l != "" {
				failures = append(failures, l)
			}
		}
	}
	if meta == nil {
		meta = map[string]string{}
	}
	addMachineMeta(meta)
	r := buildReport(meta, tp, su, failures)
	r.Background = idle
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	md := r.Markdown()
	if err := os.WriteFile(filepath.Join(dir, "results.md"), []byte(md), 0o644); err != nil {
		return err
	}
	_, err = io.WriteString(w, md)
	return err
}

// addMachineMeta records the CPU model, CPU count and load average.
func addMachineMeta(meta map[string]string) {
	if _, ok := meta["cpu"]; !ok {
		if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
			for _, l := range strings.Split(string(b), "\n") {
				if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
					meta["cpu"] = strings.TrimSpace(v)
					break
				}
			}
		}
	}
	if _, ok := meta["cpus"]; !ok {
		meta["cpus"] = fmt.Sprint(runtime.NumCPU())
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil && meta["loadavg_end"] == "" {
		meta["loadavg_end"] = strings.Join(strings.Fields(string(b))[:3], " ")
	}
}

// Markdown renders the report: header, throughput and CPU, ratios, setup
// latency, targets, failures.
func (r Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# vpngw benchmark %s\n\n", r.Meta["started"])
	var mk []string
	for k := range r.Meta {
		mk = append(mk, k)
	}
	sort.Strings(mk)
	for _, k := range mk {
		fmt.Fprintf(&b, "- %s: %s\n", k, r.Meta[k])
	}

	if len(r.Background) > 0 {
		var v []string
		for _, s := range r.Background {
			v = append(v, fmt.Sprintf("r%d %.2f", s.Repeat, s.BoxCores))
		}
		fmt.Fprintf(&b, "- background load (cores busy before each repeat, no benchmark traffic, of %s): %s\n",
			r.Meta["cpus"], strings.Join(v, ", "))
	}

	streams := map[int]bool{}
	var modes []string
	for _, s := range r.Throughput {
		streams[s.Streams] = true
		if !slices.Contains(modes, s.Mode) {
			modes = append(modes, s.Mode)
		}
	}
	var ps []int
	for p := range streams {
		ps = append(ps, p)
	}
	sort.Ints(ps)

	if len(r.Throughput) > 0 {
		b.WriteString("\n## Throughput (iperf3 TCP, host A → host B, Gbit/s received; median [min–max] over repeats)\n\n")
		head := []string{"mode"}
		for _, p := range ps {
			head = append(head, streamsLabel(p))
		}
		var rows [][]string
		for _, m := range modes {
			row := []string{m}
			for _, p := range ps {
				s := r.summary(m, p)
				switch {
				case s == nil:
					row = append(row, "–")
				case s.Gbps.N == 0:
					row = append(row, fmt.Sprintf("failed ×%d", s.Failed))
				default:
					cell := fmt.Sprintf("%.2f [%.2f–%.2f]", s.Gbps.Median, s.Gbps.Min, s.Gbps.Max)
					if s.Failed > 0 {
						cell += fmt.Sprintf(" (%d failed)", s.Failed)
					}
					row = append(row, cell)
				}
			}
			rows = append(rows, row)
		}
		writeTable(&b, head, rows)

		b.WriteString("\n## CPU per Gbit/s (CPU-seconds per Gbit transferred = cores busy ÷ Gbit/s; medians)\n\n")
		head = []string{"mode"}
		for _, p := range ps {
			head = append(head, "daemons "+streamsLabel(p), "box "+streamsLabel(p))
		}
		for _, p := range ps {
			head = append(head, "daemon cores "+streamsLabel(p))
		}
		rows = nil
		for _, m := range modes {
			row := []string{m}
			for _, p := range ps {
				s := r.summary(m, p)
				if s == nil || s.Gbps.N == 0 {
					row = append(row, "–", "–")
					continue
				}
				d := "–"
				if s.DaemonCPUPerGbit.N > 0 {
					d = fmt.Sprintf("%.3f", s.DaemonCPUPerGbit.Median)
				}
				row = append(row, d, fmt.Sprintf("%.3f", s.BoxCPUPerGbit.Median))
			}
			for _, p := range ps {
				s := r.summary(m, p)
				if s == nil || s.DaemonCores.N == 0 {
					row = append(row, "–")
					continue
				}
				row = append(row, fmt.Sprintf("%.2f", s.DaemonCores.Median))
			}
			rows = append(rows, row)
		}
		writeTable(&b, head, rows)
	}

	if len(r.Ratios) > 0 {
		b.WriteString("\n## Ratios (median of per-repeat ratios [each repeat's ratio]; throughput: higher is better, CPU per Gbit: lower is better)\n\n")
		head := []string{"ratio"}
		for _, p := range ps {
			head = append(head, streamsLabel(p))
		}
		type rk struct{ mode, base, metric string }
		var order []rk
		for _, q := range r.Ratios {
			k := rk{q.Mode, q.Baseline, q.Metric}
			if !slices.Contains(order, k) {
				order = append(order, k)
			}
		}
		metricName := map[string]string{"throughput": "throughput", "daemonCpuPerGbit": "daemon CPU/Gbit", "boxCpuPerGbit": "box CPU/Gbit"}
		var rows [][]string
		for _, k := range order {
			row := []string{fmt.Sprintf("%s %s / %s", metricName[k.metric], k.mode, k.base)}
			for _, p := range ps {
				if q, ok := r.ratioEntry(k.mode, k.base, p, k.metric); ok {
					per := make([]string, len(q.PerRepeat))
					for i, v := range q.PerRepeat {
						per[i] = fmt.Sprintf("%.2f", v)
					}
					row = append(row, fmt.Sprintf("%.2f× [%s]", q.Median, strings.Join(per, " ")))
				} else {
					row = append(row, "–")
				}
			}
			rows = append(rows, row)
		}
		writeTable(&b, head, rows)
	}

	for _, sp := range setupProtocols {
		r.setupMarkdown(&b, sp.proto)
	}

	if len(r.Targets) > 0 {
		b.WriteString("\n## Targets\n\n")
		var rows [][]string
		for _, t := range r.Targets {
			v := "MET"
			if !t.Met {
				v = "NOT MET"
			}
			rows = append(rows, []string{t.Name, t.Want, fmt.Sprintf("%.2f×", t.Got), v})
		}
		writeTable(&b, []string{"target", "want", "got", ""}, rows)
	}
	if len(r.Failures) > 0 {
		b.WriteString("\n## Failures\n\n")
		for _, f := range r.Failures {
			fmt.Fprintf(&b, "- %s\n", f)
		}
	}
	return b.String()
}

// setupHeading titles each protocol's setup latency section.
var setupHeading = map[string]string{
	protoIKEv2: "IKE_SA+CHILD_SA setup latency",
	protoIKEv1: "IKEv1 setup latency (Main Mode + Quick Mode)",
}

// setupMarkdown renders one protocol's setup latency: each
// implementation, the ratio of the pooled medians and p90s and each
// repeat's ratio.
func (r Report) setupMarkdown(b *strings.Builder, proto string) {
	var rows [][]string
	for _, s := range r.Setup {
		if s.Protocol != proto {
			continue
		}
		agent := "–"
		if s.AgentMs.N > 0 {
			agent = fmt.Sprintf("%.2f / %.2f", s.AgentMs.Median, s.AgentMs.P90)
		}
		rows = append(rows, []string{s.Impl, fmt.Sprint(s.ClientMs.N), fmt.Sprintf("%.2f", s.ClientMs.Median),
			fmt.Sprintf("%.2f", s.ClientMs.P90), fmt.Sprintf("%.2f–%.2f", s.ClientMs.Min, s.ClientMs.Max), agent})
	}
	if len(rows) == 0 {
		return
	}
	q := r.setupRatio(proto)
	if q != nil {
		rows = append(rows, []string{"vpngw / strongswan", "", fmt.Sprintf("%.2f×", q.Median), fmt.Sprintf("%.2f×", q.P90), "", ""})
	}
	fmt.Fprintf(b, "\n## %s (ms; client round trip of a blocking initiate over the daemon's Unix socket)\n\n", setupHeading[proto])
	writeTable(b, []string{"implementation", "n", "median", "p90", "min–max", "inside agent median / p90"}, rows)
	if q != nil && len(q.PerRepeat) > 0 {
		per := make([]string, len(q.PerRepeat))
		for i, v := range q.PerRepeat {
			per[i] = fmt.Sprintf("%.2f", v)
		}
		fmt.Fprintf(b, "\nvpngw / strongswan per repeat (each repeat's median over median): %.2f× [%s]\n", q.RepeatMedian, strings.Join(per, " "))
	}
}

// writeTable writes a markdown table with padded columns (readable as
// plain text too).
func writeTable(w io.Writer, head []string, rows [][]string) {
	width := make([]int, len(head))
	for i, h := range head {
		width[i] = len([]rune(h))
	}
	for _, r := range rows {
		for i, c := range r {
			if i < len(width) {
				width[i] = max(width[i], len([]rune(c)))
			}
		}
	}
	line := func(cells []string) {
		var b strings.Builder
		b.WriteString("|")
		for i := range width {
			c := ""
			if i < len(cells) {
				c = cells[i]
			}
			b.WriteString(" " + c + strings.Repeat(" ", width[i]-len([]rune(c))) + " |")
		}
		b.WriteString("\n")
		io.WriteString(w, b.String())
	}
	line(head)
	sep := make([]string, len(width))
	for i := range sep {
		sep[i] = strings.Repeat("-", width[i])
	}
	line(sep)
	for _, r := range rows {
		line(r)
	}
}
