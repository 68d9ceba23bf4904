package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// throughputFile holds one ThroughputSample per line.
const throughputFile = "throughput.jsonl"

// transfer is what the bounded transfers (iperf, flows) have in common.
type transfer struct {
	Out      string // results directory
	Mode     string // mode label
	Repeat   int    // repeat number
	Duration int    // measured seconds
	Omit     int    // seconds skipped before measuring
	ClientNS string // namespace of the client (source)
	ServerNS string // namespace of the server (sink)
	Port     int    // server port
	PIDs     []int  // daemons whose CPU time is sampled
	pids     string // -pids, parsed into PIDs by parse
}

// flags registers the transfer's flags on fs.
func (t *transfer) flags(fs *flag.FlagSet, file string, port int) {
	fs.StringVar(&t.Out, "out", "", "results directory ("+file+" is appended)")
	fs.StringVar(&t.Mode, "mode", "", "mode label")
	fs.IntVar(&t.Repeat, "repeat", 0, "repeat number")
	fs.IntVar(&t.Duration, "t", 10, "measured seconds (iperf3 -t)")
	fs.IntVar(&t.Omit, "O", 1, "seconds skipped before measuring (iperf3 -O)")
	fs.StringVar(&t.ClientNS, "client-ns", "", "namespace of the client (source)")
	fs.StringVar(&t.ServerNS, "server-ns", "", "namespace of the server (sink)")
	fs.IntVar(&t.Port, "port", port, "server port")
	fs.StringVar(&t.pids, "pids", "", "comma-separated daemon PIDs whose CPU time is sampled")
}

// parse parses fs's arguments and -pids, and checks the flags every
// transfer needs.
func (t *transfer) parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	p, err := parsePIDs(t.pids)
	if err != nil {
		return fmt.Errorf("%w: -pids: %w", errUsage, err)
	}
	t.PIDs = p
	if t.Out == "" || t.Mode == "" || t.ClientNS == "" || t.ServerNS == "" || t.Duration < 1 || t.Omit < 0 {
		return fmt.Errorf("%w: %s needs -out, -mode, -client-ns, -server-ns, -t >= 1 and -O >= 0", errUsage, fs.Name())
	}
	return nil
}

// iperfOptions describe one bounded iperf3 transfer.
type iperfOptions struct {
	transfer
	Streams int    // iperf3 -P
	Dst     string // server address
}

// ThroughputSample is one iperf3 transfer through one mode.
type ThroughputSample struct {
	// Repeat, Mode and Streams identify the run.
	Repeat  int    `json:"repeat"`
	Mode    string `json:"mode"`
	Streams int    `json:"streams"`
	// Gbps is iperf3's received rate (end.sum_received), in Gbit/s.
	Gbps float64 `json:"gbps"`
	// Retransmits is iperf3's sender-side TCP retransmission count.
	Retransmits int `json:"retransmits"`
	// WindowSeconds is the length of the CPU sampling window, which lies
	// inside iperf3's measured interval (0.5 s in from each end).
	WindowSeconds float64 `json:"windowSeconds"`
	// DaemonCores is, per sampled daemon (gateway A first), its CPU time
	// (utime+stime of all threads) in the window divided by the window:
	// 1.0 is one core fully busy.
	DaemonCores []float64 `json:"daemonCores,omitempty"`
	// BoxCores is the whole machine's busy time (user, nice, system, irq,
	// softirq of all CPUs) in the window divided by the window. It includes
	// iperf3, the kernel's TCP/veth/TUN work, and other users of the box.
	BoxCores float64 `json:"boxCores"`
	// DaemonCPUPerGbit is the daemons' CPU-seconds per Gbit transferred:
	// sum(DaemonCores) / Gbps. Zero when no daemon is sampled.
	DaemonCPUPerGbit float64 `json:"daemonCpuSecondsPerGbit,omitempty"`
	// BoxCPUPerGbit is the whole box's CPU-seconds per Gbit transferred:
	// BoxCores / Gbps.
	BoxCPUPerGbit float64 `json:"boxCpuSecondsPerGbit"`
	// Load1 is the one-minute load average when the run started.
	Load1 float64 `json:"load1"`
	// Raw is the file (relative to the results directory) with iperf3's
	// JSON output.
	Raw string `json:"raw,omitempty"`
	// Error is set when the run failed; the figures are then meaningless.
	Error string `json:"error,omitempty"`
}

// cpuSnapshot is the CPU time of the sampled daemons and of the box.
type cpuSnapshot struct {
	at      time.Time
	daemons []uint64 // clock ticks per daemon
	boxBusy uint64   // clock ticks, all CPUs
}

func runIperf(ctx context.Context, o iperfOptions) ThroughputSample {
	s := ThroughputSample{Repeat: o.Repeat, Mode: o.Mode, Streams: o.Streams, Load1: load1()}
	if err := iperf(ctx, o, &s); err != nil {
		s.Error = err.Error()
	}
	return s
}

func iperf(ctx context.Context, o iperfOptions, s *ThroughputSample) error {
	total := time.Duration(o.Duration+o.Omit) * time.Second
	port := strconv.Itoa(o.Port)

	// A one-shot server per transfer: nothing is left over from a failed run.
	sctx, scancel := context.WithTimeout(ctx, total+30*time.Second)
	defer scancel()
	srv := exec.CommandContext(sctx, "ip", "netns", "exec", o.ServerNS, "iperf3", "-s", "-1", "-p", port)
	if err := srv.Start(); err != nil {
		return fmt.Errorf("iperf3 server: %w", err)
	}
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.Wait() }()
	defer func() {
		select {
		case <-srvDone:
		case <-time.After(3 * time.Second):
			_ = srv.Process.Kill()
			<-srvDone
		}
	}()
	if err := waitListening(sctx, o.ServerNS, port, srvDone); err != nil {
		return err
	}

	cctx, ccancel := context.WithTimeout(ctx, total+20*time.Second)
	defer ccancel()
	var out, stderr bytes.Buffer
	cli := exec.CommandContext(cctx, "ip", "netns", "exec", o.ClientNS, "iperf3", "-c", o.Dst, "-p", port,
		"-t", strconv.Itoa(o.Duration), "-O", strconv.Itoa(o.Omit), "-P", strconv.Itoa(o.Streams), "-J")
	cli.Stdout, cli.Stderr = &out, &stderr
	start := time.Now()
	if err := cli.Start(); err != nil {
		return fmt.Errorf("iperf3 client: %w", err)
	}
	cliDone := make(chan error, 1)
	go func() { cliDone <- cli.Wait() }()

	// Sample inside iperf3's measured interval [Omit, Omit+Duration],
	// 0.5 s in from each end: no slow start, no connection teardown.
	from := time.Duration(o.Omit)*time.Second + 500*time.Millisecond
	to := total - 500*time.Millisecond
	if to <= from {
		from, to = 0, total
	}
	var a, b cpuSnapshot
	var sampled bool
	var cliErr error
	exited := false
	if sleepUntil(ctx, start.Add(from), cliDone, &cliErr, &exited) {
		a = snapshot(o.PIDs)
		if sleepUntil(ctx, start.Add(to), cliDone, &cliErr, &exited) {
			b = snapshot(o.PIDs)
			sampled = true
		}
	}
	if !exited {
		cliErr = <-cliDone
	}
	raw := fmt.Sprintf("raw/iperf-r%d-%s-P%d.json", o.Repeat, o.Mode, o.Streams)
	if err := os.MkdirAll(filepath.Join(o.Out, "raw"), 0o755); err == nil {
		if err := os.WriteFile(filepath.Join(o.Out, raw), out.Bytes(), 0o644); err == nil {
			s.Raw = raw
		}
	}
	if cliErr != nil {
		return fmt.Errorf("iperf3 client: %w: %s%s", cliErr, strings.TrimSpace(stderr.String()), iperfError(out.Bytes()))
	}
	if err := parseIperf(out.Bytes(), s); err != nil {
		return err
	}
	if !sampled {
		return fmt.Errorf("iperf3 ended before the CPU sampling window closed")
	}
	fillCPU(s, a, b, clockTicks())
	return nil
}

// sleepUntil waits until t; it returns false if ctx ended or the client
// exited first (its result is stored in *err and *exited set).
func sleepUntil(ctx context.Context, t time.Time, done <-chan error, err *error, exited *bool) bool {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case *err = <-done:
		*exited = true
		return false
	case <-ctx.Done():
		return false
	}
}

// waitListening polls until the server listens on port (at most 5 s).
func waitListening(ctx context.Context, ns, port string, srvDone <-chan error) error {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		out, _ := exec.CommandContext(ctx, "ip", "netns", "exec", ns, "ss", "-Hltn", "sport = :"+port).Output()
		if len(bytes.TrimSpace(out)) > 0 {
			return nil
		}
		select {
		case err := <-srvDone:
			return fmt.Errorf("iperf3 server exited: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("iperf3 server in %s does not listen on %s", ns, port)
}

// iperfResult is the part of iperf3's -J output we use.
type iperfResult struct {
	End struct {
		SumReceived struct {
			BitsPerSecond float64 `json:"bits_per_second"`
		} `json:"sum_received"`
		SumSent struct {
			Retransmits int `json:"retransmits"`
		} `json:"sum_sent"`
	} `json:"end"`
	Error string `json:"error"`
}

func parseIperf(b []byte, s *ThroughputSample) error {
	var r iperfResult
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("iperf3 output: %w", err)
	}
	if r.Error != "" {
		return fmt.Errorf("iperf3: %s", r.Error)
	}
	if r.End.SumReceived.BitsPerSecond <= 0 {
		return fmt.Errorf("iperf3 received nothing")
	}
	s.Gbps = r.End.SumReceived.BitsPerSecond / 1e9
	s.Retransmits = r.End.SumSent.Retransmits
	return nil
}

func iperfError(b []byte) string {
	var r iperfResult
	if json.Unmarshal(b, &r) == nil && r.Error != "" {
		return " (" + r.Error + ")"
	}
	return ""
}

// fillCPU derives the CPU figures of s from two snapshots.
func fillCPU(s *ThroughputSample, a, b cpuSnapshot, hz float64) {
	w := b.at.Sub(a.at).Seconds()
	if w <= 0 || hz <= 0 {
		return
	}
	s.WindowSeconds = w
	var sum float64
	for i := range a.daemons {
		c := float64(b.daemons[i]-a.daemons[i]) / hz / w
		s.DaemonCores = append(s.DaemonCores, c)
		sum += c
	}
	s.BoxCores = float64(b.boxBusy-a.boxBusy) / hz / w
	if s.Gbps > 0 {
		if len(a.daemons) > 0 {
			s.DaemonCPUPerGbit = sum / s.Gbps
		}
		s.BoxCPUPerGbit = s.BoxCores / s.Gbps
	}
}

func snapshot(pids []int) cpuSnapshot {
	c := cpuSnapshot{at: time.Now()}
	for _, p := range pids {
		t, _ := procTicks(p) // a vanished daemon counts as idle; the run fails elsewhere
		c.daemons = append(c.daemons, t)
	}
	c.boxBusy, _ = boxBusyTicks()
	return c
}

// procTicks is utime+stime of a process (all its threads), in clock ticks.
func procTicks(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseProcStat(string(b))
}

// procUDPIn returns the UDP datagrams delivered in pid's network namespace
// (InDatagrams of the Udp line of /proc/PID/net/snmp).
func procUDPIn(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/snmp", pid))
	if err != nil {
		return 0, err
	}
	return parseSNMPUDPIn(string(b))
}

// parseSNMPUDPIn reads InDatagrams from /proc/net/snmp's Udp lines (a
// header line of names, then one of values).
func parseSNMPUDPIn(snmp string) (uint64, error) {
	var names []string
	for line := range strings.Lines(snmp) {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "Udp:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i, n := range names {
			if n == "InDatagrams" && i < len(f) {
				return strconv.ParseUint(f[i], 10, 64)
			}
		}
		break
	}
	return 0, fmt.Errorf("no Udp InDatagrams in snmp")
}

// parseProcStat reads utime and stime (fields 14 and 15 of proc(5)) from a
// /proc/PID/stat line; the command name in parentheses may contain spaces.
func parseProcStat(line string) (uint64, error) {
	i := strings.LastIndexByte(line, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed stat line")
	}
	f := strings.Fields(line[i+1:])
	// f[0] is field 3 (state): utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("short stat line")
	}
	u, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("malformed utime/stime")
	}
	return u + st, nil
}

// boxBusyTicks is the busy time of all CPUs from /proc/stat, in clock ticks.
func boxBusyTicks() (uint64, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return parseBoxBusy(line)
}

// parseBoxBusy sums user, nice, system, irq and softirq of the aggregate
// "cpu" line of /proc/stat (idle, iowait and steal are not busy; guest time
// is already counted in user).
func parseBoxBusy(line string) (uint64, error) {
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, fmt.Errorf("unexpected /proc/stat line %q", line)
	}
	var sum uint64
	for _, i := range []int{1, 2, 3, 6, 7} { // user nice system _ _ irq softirq
		v, err := strconv.ParseUint(f[i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: %w", err)
		}
		sum += v
	}
	return sum, nil
}

// clockTicks is USER_HZ (getconf CLK_TCK; 100 on every Linux we run on).
func clockTicks() float64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if v, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64); err == nil && v > 0 {
			return v
		}
	}
	return 100
}

func load1() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

func parsePIDs(s string) ([]int, error) {
	var out []int
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		p, err := strconv.Atoi(f)
		if err != nil || p <= 0 {
			return nil, fmt.Errorf("%q is not a PID", f)
		}
		out = append(out, p)
	}
	return out, nil
}

func printThroughput(w io.Writer, s ThroughputSample) {
	if s.Error != "" {
		fmt.Fprintf(w, "  r%d %-13s P%d  FAILED: %s\n", s.Repeat, s.Mode, s.Streams, s.Error)
		return
	}
	cores := make([]string, len(s.DaemonCores))
	for i, c := range s.DaemonCores {
		cores[i] = strconv.FormatFloat(c, 'f', 2, 64)
	}
	fmt.Fprintf(w, "  r%d %-13s P%d  %6.3f Gbit/s  daemons [%s] cores  box %.2f cores  load1 %.2f\n",
		s.Repeat, s.Mode, s.Streams, s.Gbps, strings.Join(cores, " "), s.BoxCores, s.Load1)
}

// appendJSONLine appends v as one JSON line to dir/name.
func appendJSONLine(dir, name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// idleFile holds one IdleSample per line.
const idleFile = "idle.jsonl"

// idleOptions describe one background-load sample.
type idleOptions struct {
	Out    string        // results directory
	Repeat int           // repeat number
	Window time.Duration // sampling window
}

// IdleSample is the box's busy time while the benchmark itself is idle (no
// transfer, no daemon running): the load other users put on the machine.
type IdleSample struct {
	Repeat int `json:"repeat"`
	// BoxCores is the busy time of all CPUs in the window divided by the
	// window (see ThroughputSample.BoxCores).
	BoxCores float64 `json:"boxCores"`
	// Load1 is the one-minute load average at the start.
	Load1 float64 `json:"load1"`
}

func runIdle(ctx context.Context, o idleOptions) (IdleSample, error) {
	s := IdleSample{Repeat: o.Repeat, Load1: load1()}
	a := snapshot(nil)
	if err := pause(ctx, o.Window); err != nil {
		return s, err
	}
	b := snapshot(nil)
	var t ThroughputSample
	fillCPU(&t, a, b, clockTicks())
	s.BoxCores = t.BoxCores
	return s, nil
}
