package main

// The point-to-site first-ping measurement (P2S mode of
// scripts/bench-scale.sh): how long a client takes from its IKE_SA_INIT to
// the first ping answered through the tunnel, with either gateway. The
// client is strongSwan 5.9.8's charon (kernel-libipsec, vips = 0.0.0.0,
// the certificate of the plan's client/ directory) for both gateways, so
// the client's own cost is the same on both sides of the ratio. Its
// configuration is the strongSwan part of the client package
// (internal/p2s/profile), as a user would load it. The
// measurement starts `swanctl --initiate` (charon sends IKE_SA_INIT at
// once) and, from the same instant, sends an ICMP echo request every 2 ms
// to a host behind the gateway; before the tunnel is up they have no
// route and fail. The first echo reply ends it.

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
)

// pingFile holds one PingSample per line.
const pingFile = "firstping.jsonl"

// firstPingOptions describe the connects of one repeat against one gateway.
type firstPingOptions struct {
	Out    string
	Repeat int
	Impl   string // the gateway: vpngw or strongswan
	Tries  int
	Vici   string        // the client charon's vici URI
	Dst    netip.Addr    // the host behind the gateway
	Every  time.Duration // between echo requests
	Bound  time.Duration // one connect at most
}

// PingSample is one connect of the client.
type PingSample struct {
	Repeat int    `json:"repeat"`
	Impl   string `json:"impl"`
	// Client is the client: "strongswan" (charon) or "go" (goping.go).
	Client string `json:"client,omitempty"`
	Try    int    `json:"try"`
	// FirstPingMs is from the start of the connect (`swanctl --initiate`;
	// the Go client's Initiate) to the first echo reply through the
	// tunnel; InitiateMs to the client having its Child SA and address
	// (swanctl's return; the Go client's Child SA installed).
	FirstPingMs float64 `json:"firstPingMs"`
	InitiateMs  float64 `json:"initiateMs"`
	// IKEInMs (Go client only) are the arrival times of the gateway's
	// IKE messages (IKE_SA_INIT response, IKE_AUTH response), from the
	// start: the gateway's and the client's shares of the setup.
	IKEInMs []float64 `json:"ikeInMs,omitempty"`
	// IKEOutMs (Go client only) are the times the client handed its IKE
	// messages to the socket (IKE_SA_INIT, IKE_AUTH, then any Delete),
	// from the start: the IKE_AUTH step splits into the client's part
	// (IKE_SA_INIT answer in → its IKE_AUTH out) and the gateway's round
	// trip (→ the answer in, the client's send system call included).
	IKEOutMs []float64 `json:"ikeOutMs,omitempty"`
	// AuthCPUMs, AuthFaults and AuthGCs (Go client only) are what the
	// client process spent while it handled the IKE_SA_INIT answer and
	// sent its IKE_AUTH (the client's part of that step): CPU time (user
	// and system, getrusage), minor page faults and finished GC cycles.
	// CPU time near the step's wall time means the client was computing,
	// not waiting for a core.
	AuthCPUMs  float64 `json:"authCpuMs,omitempty"`
	AuthFaults int64   `json:"authFaults,omitempty"`
	AuthGCs    uint32  `json:"authGCs,omitempty"`
	// Leftover (Go client only) names the packets of the previous connect
	// (the answer to its Delete) dropped before this one's timer started.
	Leftover []string `json:"leftover,omitempty"`
	// Other (Go client only) names the IKE packets that arrived during the
	// connect and were not the answers to its IKE_SA_INIT or IKE_AUTH.
	Other []string `json:"other,omitempty"`
	Error string   `json:"error,omitempty"`
}

func swanctl(ctx context.Context, uri string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "swanctl", append(args, "--uri", uri)...)
}

// runFirstPing runs o.Tries connects, each followed by a terminate.
func runFirstPing(ctx context.Context, o firstPingOptions) ([]PingSample, error) {
	c, err := icmp.ListenPacket("ip4:icmp", "0.0.0.0")
	if err != nil {
		return nil, err
	}
	defer c.Close()
	var out []PingSample
	for try := 1; try <= o.Tries; try++ {
		s := PingSample{Repeat: o.Repeat, Impl: o.Impl, Client: "strongswan", Try: try}
		fp, ini, err := firstPing(ctx, c, o, try)
		s.FirstPingMs, s.InitiateMs = ms(fp), ms(ini)
		if err != nil {
			s.Error = err.Error()
		}
		out = append(out, s)
		tctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		b, terr := swanctl(tctx, o.Vici, "--terminate", "--ike", p2sProfileName, "--timeout", "10").CombinedOutput()
		cancel()
		if terr != nil && s.Error == "" {
			return out, fmt.Errorf("swanctl --terminate: %v: %s", terr, b)
		}
		// Let the gateway forget the client before the next connect.
		if err := pause(ctx, 500*time.Millisecond); err != nil {
			return out, err
		}
	}
	return out, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// firstPing is one connect: the time to the first echo reply and to
// swanctl's return.
func firstPing(ctx context.Context, c *icmp.PacketConn, o firstPingOptions, try int) (time.Duration, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, o.Bound)
	defer cancel()
	id := (os.Getpid() + try) & 0xffff
	replied := make(chan time.Time, 1)
	go func() {
		buf := make([]byte, 1500)
		for ctx.Err() == nil {
			_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			n, _, err := c.ReadFrom(buf)
			if err != nil {
				continue
			}
			at := time.Now()
			m, err := icmp.ParseMessage(1, buf[:n])
			if err != nil || m.Type != ipv4.ICMPTypeEchoReply {
				continue
			}
			if e, ok := m.Body.(*icmp.Echo); ok && e.ID == id {
				replied <- at
				return
			}
		}
	}()
	initiated := make(chan error, 1)
	var iniAt time.Time
	t0 := time.Now()
	cmd := swanctl(ctx, o.Vici, "--initiate", "--ike", p2sProfileName, "--child", p2sProfileName, "--timeout", "20")
	go func() {
		b, err := cmd.CombinedOutput()
		iniAt = time.Now()
		if err != nil {
			err = fmt.Errorf("swanctl --initiate: %v: %s", err, lastLine(string(b)))
		}
		initiated <- err
	}()
	dst := &net.IPAddr{IP: o.Dst.AsSlice()}
	tick := time.NewTicker(o.Every)
	defer tick.Stop()
	var iniErr error
	iniDone := false
	for seq := 0; ; seq++ {
		msg := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: id, Seq: seq & 0xffff, Data: []byte("vpngw-bench first ping")}}
		if b, err := msg.Marshal(nil); err == nil {
			_, _ = c.WriteTo(b, dst) // no route until the tunnel is up
		}
		select {
		case at := <-replied:
			if !iniDone {
				iniErr = <-initiated
			}
			return at.Sub(t0), iniAt.Sub(t0), iniErr
		case iniErr = <-initiated:
			iniDone = true
			if iniErr != nil {
				return 0, iniAt.Sub(t0), iniErr
			}
		case <-ctx.Done():
			return 0, 0, fmt.Errorf("no echo reply within %v", o.Bound)
		case <-tick.C:
		}
	}
}

func lastLine(s string) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	return l[len(l)-1]
}

// writePingReport prints the first-ping figures per client: per gateway
// the median over all connects, per repeat the ratio vpngw/strongSwan of
// that repeat's medians, and the median of those ratios.
func writePingReport(dir string, w io.Writer) error {
	samples, err := readJSONLines[PingSample](dir, pingFile)
	if err != nil || len(samples) == 0 {
		return err
	}
	byClient := map[string][]PingSample{}
	for _, s := range samples {
		c := s.Client
		if c == "" {
			c = "strongswan"
		}
		byClient[c] = append(byClient[c], s)
	}
	for _, c := range []string{"strongswan", "go"} {
		if len(byClient[c]) > 0 {
			writePingTable(w, c, byClient[c])
		}
	}
	return nil
}

// outAt is the time the client's i-th IKE message left (NaN when the
// sample has none: samples from before IKEOutMs).
func outAt(s PingSample, i int) float64 {
	if i >= len(s.IKEOutMs) {
		return math.NaN()
	}
	return s.IKEOutMs[i]
}

func writePingTable(w io.Writer, client string, samples []PingSample) {
	type key struct {
		repeat int
		impl   string
	}
	by := map[key][]float64{}
	all := map[string][]float64{}
	reps := map[int]bool{}
	failed := 0
	for _, s := range samples {
		if s.Error != "" {
			failed++
			continue
		}
		by[key{s.Repeat, s.Impl}] = append(by[key{s.Repeat, s.Impl}], s.FirstPingMs)
		all[s.Impl] = append(all[s.Impl], s.FirstPingMs)
		reps[s.Repeat] = true
	}
	// vpngw-before (VPNGW_BEFORE) is a second vpngw binary of the same
	// run: its own row and ratio.
	impls := []string{"vpngw"}
	if len(all["vpngw-before"]) > 0 {
		impls = append(impls, "vpngw-before")
	}
	name := map[string]string{"strongswan": "strongSwan charon client", "go": "Go client (vpngw's engine, ICMP in ESP)"}[client]
	fmt.Fprintf(w, "\n### First ping, %s: IKE_SA_INIT to the first echo reply through the tunnel (ms)\n\n", name)
	fmt.Fprintf(w, "| gateway | median (all connects) | per repeat (median of its connects) |\n|---|---|---|\n")
	for _, impl := range append(slices.Clone(impls), "strongswan") {
		var pr []string
		for _, r := range sortedKeys(reps) {
			pr = append(pr, fmtMedian(by[key{r, impl}]))
		}
		fmt.Fprintf(w, "| %s | %s | %s |\n", impl, fmtMedian(all[impl]), strings.Join(pr, " "))
	}
	for _, impl := range impls {
		var ratios []float64
		var per []string
		for _, r := range sortedKeys(reps) {
			v, sw := by[key{r, impl}], by[key{r, "strongswan"}]
			if len(v) == 0 || len(sw) == 0 {
				per = append(per, "–")
				continue
			}
			x := median(v) / median(sw)
			ratios = append(ratios, x)
			per = append(per, fmt.Sprintf("%.2f", x))
		}
		fmt.Fprintf(w, "| ratio %s/strongSwan | **%s** (median of the per-repeat ratios) | %s |\n", impl, fmtMedian(ratios), strings.Join(per, " "))
	}
	// Where the time went, from the client's arrival times (Go client):
	// each step's median over the connects, per gateway.
	type step struct {
		name string
		of   func(s PingSample) float64
	}
	steps := []step{
		{"start → IKE_SA_INIT answer in (the client's IKE_SA_INIT included)", func(s PingSample) float64 { return s.IKEInMs[0] }},
		{"IKE_SA_INIT answer in → IKE_AUTH answer in", func(s PingSample) float64 { return s.IKEInMs[len(s.IKEInMs)-1] - s.IKEInMs[0] }},
		{"… of which the client's (→ its IKE_AUTH out)", func(s PingSample) float64 { return outAt(s, 1) - s.IKEInMs[0] }},
		{"… the client's CPU time over its part (getrusage)", func(s PingSample) float64 {
			if s.AuthCPUMs == 0 {
				return math.NaN() // samples from before AuthCPUMs
			}
			return s.AuthCPUMs
		}},
		{"… and the gateway's round trip (→ the answer in)", func(s PingSample) float64 { return s.IKEInMs[len(s.IKEInMs)-1] - outAt(s, 1) }},
		{"IKE_AUTH answer in → the client's Child SA", func(s PingSample) float64 { return s.InitiateMs - s.IKEInMs[len(s.IKEInMs)-1] }},
		{"Child SA → first echo reply", func(s PingSample) float64 { return s.FirstPingMs - s.InitiateMs }},
	}
	gws := append(slices.Clone(impls), "strongswan")
	vals := map[string][][]float64{}
	for _, s := range samples {
		if s.Error != "" || len(s.IKEInMs) < 2 {
			continue
		}
		if vals[s.Impl] == nil {
			vals[s.Impl] = make([][]float64, len(steps))
		}
		for i, st := range steps {
			if v := st.of(s); !math.IsNaN(v) {
				vals[s.Impl][i] = append(vals[s.Impl][i], v)
			}
		}
	}
	if len(vals["vpngw"]) > 0 {
		fmt.Fprintf(w, "\nWhere the time went (medians over the connects, ms, from the client's arrival times):\n\n| step | %s |\n|---|%s\n", strings.Join(gws, " | "), strings.Repeat("---|", len(gws)))
		for i, st := range steps {
			var cols []string
			for _, g := range gws {
				if vals[g] == nil {
					cols = append(cols, "–")
					continue
				}
				cols = append(cols, fmtMedian(vals[g][i]))
			}
			fmt.Fprintf(w, "| %s | %s |\n", st.name, strings.Join(cols, " | "))
		}
	}
	if failed > 0 {
		fmt.Fprintf(w, "\n%d connects failed and are left out (see %s).\n", failed, pingFile)
	}
}
