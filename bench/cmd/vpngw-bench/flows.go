package main

// The many-tunnels mode (TUNNELS=100 make bench, scripts/bench-tunnels.sh):
// the same N TCP flows (flow i from 10.1.i.10 to 10.2.i.10, at most 250)
// through one tunnel and through N tunnels (one Child SA per flow), between
// two vpngw agents, same run. The flows are a small TCP source and sink
// written here rather than N iperf3 pairs: one process per side, every flow
// started at once, bytes counted by the sink in a window that skips the
// first second.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// flowsFile holds one FlowsSample per line.
const flowsFile = "flows.jsonl"

// maxFlows bounds -n: flow i uses the third octet i of 10.1.0.0/16 and
// 10.2.0.0/16.
const maxFlows = 250

// flowAddrs returns flow i's source and destination (10.1.i.10, 10.2.i.10).
func flowAddrs(i int) (src, dst netip.Addr) {
	return netip.AddrFrom4([4]byte{10, 1, byte(i), 10}), netip.AddrFrom4([4]byte{10, 2, byte(i), 10})
}

// flowsOptions describe one bounded many-flow transfer.
type flowsOptions struct {
	transfer
	Tunnels int // tunnels the flows are spread over (the label's number)
	N       int // flows
}

// FlowsSample is one many-flow transfer through one mode.
type FlowsSample struct {
	// Repeat, Mode, Tunnels and Flows identify the run.
	Repeat  int    `json:"repeat"`
	Mode    string `json:"mode"`
	Tunnels int    `json:"tunnels"`
	Flows   int    `json:"flows"`
	// Gbps is the bytes all flows delivered to the sink in the window, in
	// Gbit/s.
	Gbps float64 `json:"gbps"`
	// FlowsCarrying is how many flows delivered at least 1 MB in the
	// window (every tunnel carrying traffic, not a few).
	FlowsCarrying int `json:"flowsCarrying"`
	// MinFlowMbps and MaxFlowMbps are the slowest and fastest flow.
	MinFlowMbps float64 `json:"minFlowMbps"`
	MaxFlowMbps float64 `json:"maxFlowMbps"`
	// DaemonCores is, per sampled daemon, its CPU time in the window
	// divided by the window (1.0 is one core).
	DaemonCores []float64 `json:"daemonCores,omitempty"`
	// DaemonCPUPerGbit is sum(DaemonCores) / Gbps.
	DaemonCPUPerGbit float64 `json:"daemonCpuSecondsPerGbit,omitempty"`
	// BoxCores is the whole machine's busy time in the window / the window.
	BoxCores float64 `json:"boxCores"`
	// Load1 is the one-minute load average when the run started.
	Load1 float64 `json:"load1"`
	// Error is set when the run failed; the figures are then meaningless.
	Error string `json:"error,omitempty"`
}

// sinkResult is what flows-sink prints on its last line.
type sinkResult struct {
	Seconds   float64 `json:"seconds"`
	FlowBytes []int64 `json:"flowBytes"` // per accepted flow, in the window
}

// runFlowsSink accepts flows on port, counts each one's bytes and, omit
// after the first flow arrives, measures for dur; it prints "listening"
// once bound and the sinkResult as the last line.
func runFlowsSink(ctx context.Context, port int, omit, dur time.Duration, w io.Writer) error {
	ln, err := net.Listen("tcp4", ":"+strconv.Itoa(port))
	if err != nil {
		return err
	}
	defer ln.Close()
	fmt.Fprintln(w, "listening")
	var (
		mu       sync.Mutex
		counters []*atomic.Int64
		first    = make(chan struct{})
		once     sync.Once
	)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n := new(atomic.Int64)
			mu.Lock()
			counters = append(counters, n)
			mu.Unlock()
			once.Do(func() { close(first) })
			go func() {
				defer c.Close()
				buf := make([]byte, 256<<10)
				for {
					k, err := c.Read(buf)
					n.Add(int64(k))
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	snap := func() []int64 {
		mu.Lock()
		defer mu.Unlock()
		out := make([]int64, len(counters))
		for i, c := range counters {
			out[i] = c.Load()
		}
		return out
	}
	select {
	case <-first:
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(30 * time.Second):
		return errors.New("no flow arrived within 30 s")
	}
	if err := pause(ctx, omit); err != nil {
		return err
	}
	a, t0 := snap(), time.Now()
	if err := pause(ctx, dur); err != nil {
		return err
	}
	b, t1 := snap(), time.Now()
	r := sinkResult{Seconds: t1.Sub(t0).Seconds(), FlowBytes: make([]int64, len(b))}
	for i := range b {
		r.FlowBytes[i] = b[i]
		if i < len(a) {
			r.FlowBytes[i] -= a[i]
		}
	}
	return json.NewEncoder(w).Encode(r)
}

// runFlowsSource opens n flows (flow i from flowAddrs(i)) to port and
// writes on all of them until dur has passed.
func runFlowsSource(ctx context.Context, n, port int, dur time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, dur)
	defer cancel()
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range n {
		src, dst := flowAddrs(i)
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: src.AsSlice()}, Timeout: 5 * time.Second}
		c, err := d.DialContext(ctx, "tcp4", netip.AddrPortFrom(dst, uint16(port)).String())
		if err != nil {
			return fmt.Errorf("flow %d (%s -> %s): %w", i, src, dst, err)
		}
		conns = append(conns, c)
	}
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 128<<10)
			for ctx.Err() == nil {
				_ = c.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
				if _, err := c.Write(buf); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
					return
				}
			}
		}()
	}
	wg.Wait()
	return nil
}

func runFlows(ctx context.Context, o flowsOptions) FlowsSample {
	s := FlowsSample{Repeat: o.Repeat, Mode: o.Mode, Tunnels: o.Tunnels, Flows: o.N, Load1: load1()}
	if err := flows(ctx, o, &s); err != nil {
		s.Error = err.Error()
	}
	return s
}

// flows runs the sink in o.ServerNS and the source in o.ClientNS (this
// binary, through ip netns exec), and samples the daemons' CPU inside the
// sink's window.
func flows(ctx context.Context, o flowsOptions, s *FlowsSample) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	total := time.Duration(o.Omit+o.Duration) * time.Second
	ctx, cancel := context.WithTimeout(ctx, total+60*time.Second)
	defer cancel()
	port := strconv.Itoa(o.Port)
	sink := exec.CommandContext(ctx, "ip", "netns", "exec", o.ServerNS, exe, "flows-sink",
		"-port", port, "-O", strconv.Itoa(o.Omit), "-t", strconv.Itoa(o.Duration))
	sink.Stderr = os.Stderr
	out, err := sink.StdoutPipe()
	if err != nil {
		return err
	}
	if err := sink.Start(); err != nil {
		return fmt.Errorf("flows-sink: %w", err)
	}
	defer func() { _ = sink.Process.Kill(); _ = sink.Wait() }()
	lines := bufio.NewScanner(out)
	if !lines.Scan() || lines.Text() != "listening" {
		return fmt.Errorf("flows-sink did not start: %v", lines.Err())
	}
	src := exec.CommandContext(ctx, "ip", "netns", "exec", o.ClientNS, exe, "flows-source",
		"-n", strconv.Itoa(o.N), "-port", port, "-d", (total + 2*time.Second).String())
	src.Stdout, src.Stderr = os.Stderr, os.Stderr
	start := time.Now()
	if err := src.Start(); err != nil {
		return fmt.Errorf("flows-source: %w", err)
	}
	srcDone := make(chan error, 1)
	go func() { srcDone <- src.Wait() }()
	defer func() {
		select {
		case <-srcDone:
		case <-time.After(5 * time.Second):
			_ = src.Process.Kill()
			<-srcDone
		}
	}()
	// CPU inside the sink's window (which starts at the first accepted
	// flow, a few milliseconds after start), 0.5 s in from each end.
	var a, b cpuSnapshot
	if err := pause(ctx, time.Until(start.Add(time.Duration(o.Omit)*time.Second+700*time.Millisecond))); err != nil {
		return err
	}
	a = snapshot(o.PIDs)
	if err := pause(ctx, time.Until(start.Add(total-500*time.Millisecond))); err != nil {
		return err
	}
	b = snapshot(o.PIDs)
	var res sinkResult
	var last string
	for lines.Scan() {
		last = lines.Text()
	}
	if err := sink.Wait(); err != nil {
		return fmt.Errorf("flows-sink: %w", err)
	}
	if err := json.Unmarshal([]byte(last), &res); err != nil {
		return fmt.Errorf("flows-sink result %q: %w", last, err)
	}
	fillFlows(s, res)
	if w := b.at.Sub(a.at).Seconds(); w > 0 {
		hz := clockTicks()
		for i := range a.daemons {
			c := float64(b.daemons[i]-a.daemons[i]) / hz / w
			s.DaemonCores = append(s.DaemonCores, c)
		}
		s.BoxCores = float64(b.boxBusy-a.boxBusy) / hz / w
		if s.Gbps > 0 && len(s.DaemonCores) > 0 {
			s.DaemonCPUPerGbit = sum(s.DaemonCores) / s.Gbps
		}
	}
	if len(res.FlowBytes) != o.N {
		return fmt.Errorf("%d of %d flows reached the sink", len(res.FlowBytes), o.N)
	}
	return nil
}

// fillFlows turns the sink's per-flow byte counts into the sample's rates.
func fillFlows(s *FlowsSample, r sinkResult) {
	if r.Seconds <= 0 || len(r.FlowBytes) == 0 {
		return
	}
	var total int64
	rates := make([]float64, len(r.FlowBytes))
	for i, b := range r.FlowBytes {
		total += b
		rates[i] = float64(b) * 8 / r.Seconds / 1e6
		if b >= 1e6 {
			s.FlowsCarrying++
		}
	}
	sort.Float64s(rates)
	s.Gbps = float64(total) * 8 / r.Seconds / 1e9
	s.MinFlowMbps, s.MaxFlowMbps = rates[0], rates[len(rates)-1]
}

func printFlows(w io.Writer, s FlowsSample) {
	if s.Error != "" {
		fmt.Fprintf(w, "  r%d %-14s FAILED: %s\n", s.Repeat, s.Mode, s.Error)
		return
	}
	fmt.Fprintf(w, "  r%d %-14s %d flows over %d tunnel(s): %.2f Gbit/s (%d carrying, per flow %.1f-%.1f Mbit/s), daemons %.2f cores, %.2f CPU-s/Gbit\n",
		s.Repeat, s.Mode, s.Flows, s.Tunnels, s.Gbps, s.FlowsCarrying, s.MinFlowMbps, s.MaxFlowMbps, sum(s.DaemonCores), s.DaemonCPUPerGbit)
}

// flowsShape names a sample's tunnels and flows: "1x1" (one flow through
// one tunnel), "1xN" (N flows through one tunnel), "NxN" (N flows, one
// tunnel each).
func flowsShape(s FlowsSample) string {
	switch {
	case s.Flows == 1:
		return "1x1"
	case s.Tunnels == 1:
		return "1xN"
	default:
		return "NxN"
	}
}

// writeFlowsReport prints the many-tunnels tables: per mode the median
// aggregate, and per encapsulation every repeat's N-tunnel aggregate over
// the one-tunnel figures of the same repeat (N flows through one tunnel,
// and one flow through one tunnel), with their medians.
func writeFlowsReport(dir string, w io.Writer) error {
	samples, err := readJSONLines[FlowsSample](dir, flowsFile)
	if err != nil {
		return err
	}
	byMode := map[string][]float64{}
	cpu := map[string][]float64{}
	carrying := map[string][]int{}
	// encap -> repeat -> shape -> Gbit/s
	cell := map[string]map[int]map[string]float64{}
	var modes []string
	for _, s := range samples {
		if s.Error != "" {
			fmt.Fprintf(w, "failed: %s r%d: %s\n", s.Mode, s.Repeat, s.Error)
			continue
		}
		if _, ok := byMode[s.Mode]; !ok {
			modes = append(modes, s.Mode)
		}
		byMode[s.Mode] = append(byMode[s.Mode], s.Gbps)
		cpu[s.Mode] = append(cpu[s.Mode], s.DaemonCPUPerGbit)
		carrying[s.Mode] = append(carrying[s.Mode], s.FlowsCarrying)
		enc := flowsEncap(s.Mode)
		if cell[enc] == nil {
			cell[enc] = map[int]map[string]float64{}
		}
		if cell[enc][s.Repeat] == nil {
			cell[enc][s.Repeat] = map[string]float64{}
		}
		cell[enc][s.Repeat][flowsShape(s)] = s.Gbps
	}
	sort.Strings(modes)
	rows := [][]string{}
	for _, m := range modes {
		rows = append(rows, []string{m, fmtMedian(byMode[m]), fmtList(byMode[m], "%.2f"), fmtMedian(cpu[m]), fmt.Sprint(carrying[m])})
	}
	writeTable(w, []string{"mode", "median Gbit/s", "per repeat", "daemon CPU-s/Gbit (median)", "flows carrying >= 1 MB"}, rows)
	fmt.Fprintln(w)
	rows = rows[:0]
	encs := make([]string, 0, len(cell))
	for e := range cell {
		encs = append(encs, e)
	}
	sort.Strings(encs)
	for _, e := range encs {
		for _, q := range []struct{ num, den, label string }{
			{"NxN", "1xN", "N tunnels / the same N flows through 1 tunnel"},
			{"NxN", "1x1", "N tunnels / 1 flow through 1 tunnel"},
			{"1xN", "1x1", "N flows / 1 flow, both through 1 tunnel"},
		} {
			ratios := shapeRatios(cell[e], cell[e], q.num, q.den)
			if len(ratios) == 0 {
				continue
			}
			label, target := q.label, "–"
			if q.num == "NxN" {
				target = pass(median(ratios) >= 0.9)
			}
			if e == "plain" {
				label = "N flows / 1 flow (no tunnel)"
			}
			rows = append(rows, []string{e, label, fmt.Sprintf("%.2f", median(ratios)), fmtList(ratios, "%.2f"), target})
		}
	}
	writeTable(w, []string{"encapsulation", "ratio", "median", "per repeat", "target >= 0.9"}, rows)
	// Against wireguard-go (its one tunnel) in the same repeat.
	wg := cell["wireguard-go"]
	if wg == nil {
		return nil
	}
	rows = rows[:0]
	for _, e := range encs {
		if !strings.HasPrefix(e, "vpngw") {
			continue
		}
		for _, q := range []struct{ num, den, label string }{
			{"1x1", "1x1", "1 flow, 1 tunnel each"},
			{"1xN", "1xN", "N flows, 1 tunnel each"},
			{"NxN", "1xN", "N flows: N tunnels / wireguard-go's 1 tunnel"},
		} {
			if ratios := shapeRatios(cell[e], wg, q.num, q.den); len(ratios) > 0 {
				rows = append(rows, []string{e + " / wireguard-go", q.label, fmt.Sprintf("%.2f", median(ratios)), fmtList(ratios, "%.2f")})
			}
		}
	}
	if len(rows) > 0 {
		fmt.Fprintln(w)
		writeTable(w, []string{"throughput", "shape", "median", "per repeat"}, rows)
	}
	return nil
}

// shapeRatios returns, for every repeat that has both, num's figure for
// shape a over den's figure for shape b.
func shapeRatios(num, den map[int]map[string]float64, a, b string) []float64 {
	var out []float64
	for _, r := range sortedRepeats(num) {
		x, okX := num[r][a]
		y, okY := den[r][b]
		if okX && okY && y > 0 {
			out = append(out, x/y)
		}
	}
	return out
}

// flowsEncap is the mode label without its last part (vpngw-udp-100,
// vpngw-udp-1flow -> vpngw-udp).
func flowsEncap(mode string) string {
	if i := strings.LastIndexByte(mode, '-'); i > 0 {
		return mode[:i]
	}
	return mode
}

func sortedRepeats(m map[int]map[string]float64) []int {
	out := make([]int, 0, len(m))
	for r := range m {
		out = append(out, r)
	}
	sort.Ints(out)
	return out
}

func fmtList(v []float64, f string) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprintf(f, x)
	}
	return strings.Join(parts, ", ")
}

func pass(ok bool) string {
	if ok {
		return "met"
	}
	return "missed"
}

// flowsUp initiates every connection of the agent behind sockA (after the
// agent behind sockB is ready), at most 16 at a time, and waits until all
// are Connected with the wanted UDP encapsulation ("yes", "no" or "").
func flowsUp(ctx context.Context, sockA, sockB, want string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	a, b, err := waitAgents(ctx, sockA, sockB)
	if err != nil {
		return 0, err
	}
	defer a.CloseIdleConnections()
	defer b.CloseIdleConnections()
	st, err := getStatus(ctx, a)
	if err != nil {
		return 0, err
	}
	sem := make(chan struct{}, 16)
	errs := make(chan error, len(st.Connections))
	var wg sync.WaitGroup
	for _, cs := range st.Connections {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if _, _, err := initiateWait(ctx, a, cs.Name); err != nil {
				errs <- fmt.Errorf("%s: %w", cs.Name, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	for {
		st, err := getStatus(ctx, a)
		if err != nil {
			return 0, err
		}
		up := 0
		for _, cs := range st.Connections {
			if cs.Status == "Connected" && len(cs.IKE) > 0 {
				if (want == "yes" && !cs.IKE[0].Encap) || (want == "no" && cs.IKE[0].Encap) {
					return 0, fmt.Errorf("connection %s: UDP encapsulation is %v, want %s", cs.Name, cs.IKE[0].Encap, want)
				}
				up++
			}
		}
		if up == len(st.Connections) {
			return up, nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("%d of %d connections Connected: %w", up, len(st.Connections), ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
