// Command vpngw-bench is the measuring half of `make bench`. The other
// half, scripts/bench.sh, builds the four-namespace topology and starts and
// stops the daemons (vpngw agents, strongSwan charons, wireguard-go); this
// program takes the measurements and turns the samples of one invocation
// into a report with ratios against the baselines run beside vpngw.
//
//	vpngw-bench iperf       one bounded iperf3 transfer (client and server in
//	                        namespaces) with the daemons' CPU time and the
//	                        whole box's busy time sampled in the steady part
//	vpngw-bench vpngw-up    initiate a vpngw connection and wait until it is up
//	vpngw-bench vpngw-setup IKE_SA+CHILD_SA setup latency of vpngw, measured
//	                        as the status socket's initiate?wait round trip
//	                        (-protocol IKEv1: Main Mode + Quick Mode)
//	vpngw-bench swan-setup  the same for strongSwan, as the vici initiate
//	                        round trip
//	vpngw-bench scale-plan  the scale mode's configurations: N initiator
//	                        addresses, the agent's and charon's N connections
//	                        (-p2s: also a point-to-site template for each)
//	vpngw-bench scale       the scale mode's load client: N IKE SAs with
//	                        Child SAs from N source addresses against one
//	                        responder (vpngw's own IKE engine as initiator),
//	                        with the responder's CPU, RSS and idle CPU
//	vpngw-bench tunnels-up  initiate every connection of an agent and wait
//	                        until all are Connected (the many-tunnels mode)
//	vpngw-bench flows       the many-tunnels mode's transfer: N TCP flows at
//	                        once (flows-source and flows-sink, this binary in
//	                        the host namespaces), bytes counted by the sink
//	vpngw-bench flows-report  the many-tunnels table: aggregates and the
//	                        N-tunnel / 1-tunnel ratio of every repeat
//	vpngw-bench gwops       the gateway-operations mode: create a connection
//	                        with the CLI until Connected, list connections
//	                        (CLI and REST), delete it; -repeats cycles
//	vpngw-bench gwops-report  median and p90 of those figures
//	                        (-p2s: point-to-site clients with certificates
//	                        and a CFG_REQUEST, P2S="..." make bench)
//	vpngw-bench first-ping  P2S: strongSwan client connects, each timed from
//	                        swanctl --initiate to the first echo reply
//	                        through the tunnel
//	vpngw-bench idle        the box's busy cores with no benchmark traffic
//	                        (what other users of the machine take)
//	vpngw-bench report      summary table, ratios and targets: stdout,
//	                        results.json and results.md
//
// Samples are appended as JSON lines to throughput.jsonl and setup.jsonl in
// the results directory; every step is bounded by a deadline. See
// docs/benchmarks.md for what each figure means.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// errUsage marks command-line mistakes (exit status 2).
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "vpngw-bench:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: vpngw-bench iperf|vpngw-up|vpngw-setup|swan-setup|scale-plan|scale|first-ping|scale-report|tunnels-up|flows|flows-sink|flows-source|flows-report|gwops|gwops-report|idle|report [flags]", errUsage)
	}
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	switch cmd {
	case "iperf":
		var o iperfOptions
		o.flags(fs, throughputFile, 5201)
		fs.IntVar(&o.Streams, "streams", 1, "iperf3 -P")
		fs.StringVar(&o.Dst, "dst", "", "server address")
		if err := o.parse(fs, args); err != nil {
			return err
		}
		if o.Dst == "" {
			return fmt.Errorf("%w: iperf needs -dst", errUsage)
		}
		s := runIperf(ctx, o)
		printThroughput(os.Stdout, s)
		if err := appendJSONLine(o.Out, throughputFile, s); err != nil {
			return err
		}
		if s.Error != "" {
			return errors.New(s.Error)
		}
		return nil
	case "vpngw-up":
		var sockA, sockB, conn, want string
		fs.StringVar(&sockA, "a", "", "initiating agent's status socket")
		fs.StringVar(&sockB, "b", "", "responding agent's status socket (waited for)")
		fs.StringVar(&conn, "conn", "", "connection name")
		fs.StringVar(&want, "encap", "", "fail unless the IKE SA's UDP encapsulation is yes or no")
		if err := fs.Parse(args); err != nil {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
		if sockA == "" || sockB == "" || conn == "" {
			return fmt.Errorf("%w: vpngw-up needs -a, -b and -conn", errUsage)
		}
		ms, encap, err := vpngwUp(ctx, sockA, sockB, conn)
		if err != nil {
			return err
		}
		fmt.Printf("  vpngw %s up (agent setupMs %.2f, UDP encapsulation %v)\n", conn, ms, encap)
		if (want == "yes" && !encap) || (want == "no" && encap) {
			return fmt.Errorf("connection %s: UDP encapsulation is %v, want %s", conn, encap, want)
		}
		return nil
	case "vpngw-setup", "swan-setup":
		var o setupOptions
		fs.StringVar(&o.Out, "out", "", "results directory (setup.jsonl is appended)")
		fs.IntVar(&o.Repeat, "repeat", 0, "repeat number")
		fs.IntVar(&o.N, "n", 7, "measured initiate/terminate cycles (after one warm-up cycle)")
		fs.StringVar(&o.Protocol, "protocol", protoIKEv2, "label of the samples: IKEv2 or IKEv1 (what the daemons are configured to speak)")
		if cmd == "vpngw-setup" {
			fs.StringVar(&o.SockA, "a", "", "initiating agent's status socket")
			fs.StringVar(&o.SockB, "b", "", "responding agent's status socket")
			fs.StringVar(&o.Conn, "conn", "", "connection name on the initiator")
		} else {
			fs.StringVar(&o.SockA, "a", "", "initiating charon's vici socket")
			fs.StringVar(&o.SockB, "b", "", "responding charon's vici socket")
			fs.StringVar(&o.Conn, "ike", "", "IKE connection name on the initiator")
			fs.StringVar(&o.Child, "child", "", "CHILD_SA name on the initiator")
		}
		if err := fs.Parse(args); err != nil {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
		if o.Out == "" || o.SockA == "" || o.SockB == "" || o.Conn == "" || (cmd == "swan-setup" && o.Child == "") {
			return fmt.Errorf("%w: %s: missing flags (see -h)", errUsage, cmd)
		}
		if o.Protocol != protoIKEv2 && o.Protocol != protoIKEv1 {
			return fmt.Errorf("%w: %s: -protocol %q is not IKEv2 or IKEv1", errUsage, cmd, o.Protocol)
		}
		var samples []SetupSample
		var err error
		if cmd == "vpngw-setup" {
			samples, err = vpngwSetup(ctx, o)
		} else {
			samples, err = swanSetup(ctx, o)
		}
		for _, s := range samples {
			if werr := appendJSONLine(o.Out, setupFile, s); werr != nil {
				return werr
			}
		}
		printSetup(os.Stdout, samples)
		return err
	case "scale-plan":
		var dir, resp, dev, sock string
		var n int
		fs.StringVar(&dir, "dir", "", "directory for scale-addrs.batch, scale-vpngw.yaml, scale-swanctl.conf")
		fs.IntVar(&n, "n", 1000, "peers")
		fs.StringVar(&resp, "responder", "192.0.2.2", "the responder's address")
		fs.StringVar(&dev, "dev", "wan0", "the initiator's device for its addresses")
		fs.StringVar(&sock, "sock", "", "the agent's status socket")
		dpd := fs.Bool("dpd", true, "dead peer detection on both responders (vpngw: its default 45 s timeout; strongSwan: dpd_delay = 30s, vpngw's idle time before a check); false: off (strongSwan dpd_delay = 0, vpngw the longest timeout, 3600 s: it has no off)")
		p2s := fs.Bool("p2s", false, "also write the point-to-site plan: a root CA (ca.pem, ca.key) and the gateway's certificate, p2s-vpngw.yaml (a pointToSite template) and swanctl/ (one connection with a pool and certificate authentication)")
		if err := fs.Parse(args); err != nil {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
		if dir == "" || sock == "" || n < 1 || n > 1<<20 {
			return fmt.Errorf("%w: scale-plan needs -dir, -sock and 1 <= -n <= 2^20", errUsage)
		}
		if err := writeScalePlan(dir, n, resp, dev, scaleIKE, scaleESP, sock, *dpd); err != nil {
			return err
		}
		if *p2s {
			return writeP2SPlan(dir, resp, sock, scaleIKE, scaleESP, *dpd)
		}
		return nil
	case "scale":
		o := scaleOptions{IKE: scaleIKE, ESP: scaleESP}
		var resp string
		fs.StringVar(&o.Out, "out", "", "results directory (scale.jsonl is appended)")
		fs.IntVar(&o.Repeat, "repeat", 0, "repeat number")
		fs.StringVar(&o.Impl, "impl", "", "responder: vpngw or strongswan")
		fs.IntVar(&o.N, "n", 1000, "peers")
		fs.IntVar(&o.Window, "window", 64, "setups in flight at most")
		fs.StringVar(&resp, "responder", "192.0.2.2", "the responder's address")
		fs.IntVar(&o.PID, "pid", 0, "the responder's PID")
		fs.IntVar(&o.HubPID, "hub-pid", 0, "the PID of the control plane the responder reports to (remote mode; 0: none)")
		fs.IntVar(&o.BaseRSSkB, "base-rss", 0, "the responder's RSS (kB) with no peer configured")
		fs.DurationVar(&o.Idle, "idle", 10*time.Second, "idle window with all tunnels up")
		fs.DurationVar(&o.Settle, "settle", 2*time.Second, "wait between the last setup and the idle window")
		fs.DurationVar(&o.Deadline, "deadline", 5*time.Minute, "bound of the setup phase")
		fs.BoolVar(&o.DPD, "dpd", true, "the load client checks liveness (default DPD timeout, 45 s); false: the longest timeout (3600 s)")
		fs.StringVar(&o.P2SDir, "p2s", "", "point-to-site clients (certificate auth, CFG_REQUEST) with the plan in this directory (scale-plan -p2s)")
		fs.IntVar(&o.Rekeys, "rekeys", 0, "Child SA rekeys a second the clients start in the idle window, round robin over the clients (0: none)")
		if err := fs.Parse(args); err != nil {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
		a, err := netip.ParseAddr(resp)
		if err != nil || o.Out == "" || o.Impl == "" || o.PID <= 0 || o.N < 1 || o.Window < 1 || o.Rekeys < 0 {
			return fmt.Errorf("%w: scale needs -out, -impl, -pid, -n >= 1, -window >= 1, -rekeys >= 0 and a -responder address", errUsage)
		}
		o.Responder = a
		s, err := runScale(ctx, o)
		if err != nil && s.Error == "" {
			s.Error = err.Error()
		}
		printScale([]ScaleSample{s})
		if werr := appendJSONLine(o.Out, scaleFile, s); werr != nil {
			return werr
		}
		if s.Error != "" {
			return errors.New(s.Error)
		}
		return nil
	case "first-ping":
		o := firstPingOptions{Every: 2 * time.Millisecond}
		var dst, client, p2sDir, resp string
		fs.StringVar(&client, "client", "strongswan", "the client: strongswan (a charon at -vici) or go (vpngw's engine, ICMP in ESP; needs -p2s)")
		fs.StringVar(&p2sDir, "p2s", "", "the P2S plan (scale-plan -p2s) whose root issues the Go client's certificates")
		fs.StringVar(&resp, "responder", "192.0.2.2", "the gateway's address (Go client)")
		fs.StringVar(&o.Out, "out", "", "results directory (firstping.jsonl is appended)")
		fs.IntVar(&o.Repeat, "repeat", 0, "repeat number")
		fs.StringVar(&o.Impl, "impl", "", "the gateway: vpngw or strongswan")
		fs.IntVar(&o.Tries, "tries", 5, "connects (each followed by a terminate)")
		fs.StringVar(&o.Vici, "vici", "", "the client charon's vici URI (unix:///...)")
		fs.StringVar(&dst, "dst", "172.16.0.1", "the host behind the gateway that answers the pings")
		fs.DurationVar(&o.Bound, "bound", 20*time.Second, "one connect at most")
		if err := fs.Parse(args); err != nil {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
		a, err := netip.ParseAddr(dst)
		r, rerr := netip.ParseAddr(resp)
		if err != nil || rerr != nil || o.Out == "" || o.Impl == "" || o.Tries < 1 ||
			(client == "strongswan" && o.Vici == "") || (client == "go" && p2sDir == "") || (client != "go" && client != "strongswan") {
			return fmt.Errorf("%w: first-ping needs -out, -impl, -tries >= 1, -dst and -responder addresses, and -client strongswan with -vici or -client go with -p2s", errUsage)
		}
		o.Dst = a
		var samples []PingSample
		if client == "go" {
			samples, err = runGoFirstPing(ctx, goPingOptions{firstPingOptions: o, P2SDir: p2sDir, Responder: r})
		} else {
			samples, err = runFirstPing(ctx, o)
		}
		for _, s := range samples {
			fmt.Printf("  r%d %-10s %s client, connect %d: first ping after %.1f ms (Child SA after %.1f ms)%s\n", s.Repeat, s.Impl, s.Client, s.Try, s.FirstPingMs, s.InitiateMs, errSuffix(s.Error))
			if werr := appendJSONLine(o.Out, pingFile, s); werr != nil {
				return werr
			}
		}
		return err
	case "scale-report":
		var dir string
		fs.StringVar(&dir, "dir", "", "results directory with scale.jsonl")
		if err := fs.Parse(args); err != nil {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
		if dir == "" {
			return fmt.Errorf("%w: scale-report needs -dir", errUsage)
		}
		return writeScaleReport(dir, os.Stdout)
	case "tunnels-up":
		var sockA, sockB, want string
		fs.StringVar(&sockA, "a", "", "initiating agent's status socket")
		fs.StringVar(&sockB, "b", "", "responding agent's status socket (waited for)")
		fs.StringVar(&want, "encap", "", "fail unless every IKE SA's UDP encapsulation is yes or no")
		if err := fs.Parse(args); err != nil {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
		if sockA == "" || sockB == "" {
			return fmt.Errorf("%w: tunnels-up needs -a and -b", errUsage)
		}
		n, err := flowsUp(ctx, sockA, sockB, want)
		if err != nil {
			return err
		}
		fmt.Printf("  vpngw: %d connections up\n", n)
		return nil
	case "flows":
		var o flowsOptions
		o.flags(fs, flowsFile, 5301)
		fs.IntVar(&o.Tunnels, "tunnels", 1, "tunnels the flows are spread over")
		fs.IntVar(&o.N, "n", 100, "flows (flow i: 10.1.i.10 -> 10.2.i.10)")
		if err := o.parse(fs, args); err != nil {
			return err
		}
		if o.N < 1 || o.N > maxFlows {
			return fmt.Errorf("%w: flows needs 1 <= -n <= %d", errUsage, maxFlows)
		}
		s := runFlows(ctx, o)
		printFlows(os.Stdout, s)
		if err := appendJSONLine(o.Out, flowsFile, s); err != nil {
			return err
		}
		if s.Error != "" {
			return errors.New(s.Error)
		}
		return nil
	case "flows-sink":
		var port, omit, dur int
		fs.IntVar(&port, "port", 5301, "port")
		fs.IntVar(&omit, "O", 1, "seconds skipped after the first flow arrives")
		fs.IntVar(&dur, "t", 10, "measured seconds")
		if err := fs.Parse(args); err != nil {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
		return runFlowsSink(ctx, port, time.Duration(omit)*time.Second, time.Duration(dur)*time.Second, os.Stdout)
	case "flows-source":
		var n, port int
		var d time.Duration
		fs.IntVar(&n, "n", 100, "flows (flow i: 10.1.i.10 -> 10.2.i.10)")
		fs.IntVar(&port, "port", 5301, "sink port")
		fs.DurationVar(&d, "d", 13*time.Second, "how long to send")
		if err := fs.Parse(args); err != nil {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
		if n < 1 || n > maxFlows || d <= 0 || d > 10*time.Minute {
			return fmt.Errorf("%w: flows-source needs 1 <= -n <= %d and 0 < -d <= 10m", errUsage, maxFlows)
		}
		return runFlowsSource(ctx, n, port, d)
	case "flows-report":
		var dir string
		fs.StringVar(&dir, "dir", "", "results directory with flows.jsonl")
		if err := fs.Parse(args); err != nil {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
		if dir == "" {
			return fmt.Errorf("%w: flows-report needs -dir", errUsage)
		}
		return writeFlowsReport(dir, os.Stdout)
	case "gwops":
		var o gwopsOptions
		fs.StringVar(&o.Out, "out", "", "results directory (gwops.jsonl is appended)")
		fs.IntVar(&o.Repeats, "repeats", 5, "create/list/delete cycles")
		fs.IntVar(&o.Lists, "lists", 5, "timed lists of each kind per cycle")
		fs.StringVar(&o.Bin, "bin", "bin/vpngw", "the vpngw binary (its CLI runs with this environment's VPNGW_URL, VPNGW_CA_FILE, VPNGW_CONFIG_DIR)")
		fs.StringVar(&o.Before, "before", "", "another vpngw binary: each list is timed with it too, alternating with -bin")
		fs.StringVar(&o.URL, "url", os.Getenv("VPNGW_URL"), "the API")
		fs.StringVar(&o.CAFile, "ca", os.Getenv("VPNGW_CA_FILE"), "the server's CA certificate")
		fs.StringVar(&o.Credential, "credential", "", "the administrator's credential file (for the REST client's sign-in)")
		fs.StringVar(&o.Group, "g", "", "resource group")
		fs.StringVar(&o.Gateway, "gateway", "", "virtual network gateway")
		fs.StringVar(&o.Conn, "conn", "", "connection created and deleted each cycle")
		fs.StringVar(&o.Site, "site", "", "its local network gateway")
		fs.StringVar(&o.SharedKey, "shared-key", "", "its shared key")
		if err := fs.Parse(args); err != nil {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
		if o.Out == "" || o.URL == "" || o.CAFile == "" || o.Credential == "" || o.Group == "" || o.Gateway == "" ||
			o.Conn == "" || o.Site == "" || o.SharedKey == "" || o.Repeats < 1 || o.Lists < 1 {
			return fmt.Errorf("%w: gwops needs -out, -url, -ca, -credential, -g, -gateway, -conn, -site, -shared-key, -repeats >= 1, -lists >= 1", errUsage)
		}
		_, err := runGwops(ctx, o)
		return err
	case "gwops-report":
		var dir string
		fs.StringVar(&dir, "dir", "", "results directory with gwops.jsonl")
		if err := fs.Parse(args); err != nil {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
		if dir == "" {
			return fmt.Errorf("%w: gwops-report needs -dir", errUsage)
		}
		return writeGwopsReport(dir, os.Stdout)
	case "hub":
		var file, socket, instance string
		fs.StringVar(&file, "config", "", "the instance's configuration (gwconfig YAML)")
		fs.StringVar(&socket, "socket", "", "the Unix socket to serve the agent API on")
		fs.StringVar(&instance, "instance", "scale", "the instance's ID")
		if err := fs.Parse(args); err != nil {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
		if file == "" || socket == "" {
			return fmt.Errorf("%w: hub needs -config and -socket", errUsage)
		}
		return runHub(ctx, file, socket, instance)
	case "idle":
		var o idleOptions
		fs.StringVar(&o.Out, "out", "", "results directory (idle.jsonl is appended)")
		fs.IntVar(&o.Repeat, "repeat", 0, "repeat number")
		fs.DurationVar(&o.Window, "window", 2*time.Second, "sampling window")
		if err := fs.Parse(args); err != nil {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
		if o.Out == "" {
			return fmt.Errorf("%w: idle needs -out", errUsage)
		}
		s, err := runIdle(ctx, o)
		if err != nil {
			return err
		}
		fmt.Printf("  r%d background: box %.2f cores busy with no benchmark traffic (load1 %.2f)\n", s.Repeat, s.BoxCores, s.Load1)
		return appendJSONLine(o.Out, idleFile, s)
	case "report":
		var dir string
		meta := metaFlag{}
		fs.StringVar(&dir, "dir", "", "results directory")
		fs.Var(meta, "meta", "key=value shown in the report header (repeatable)")
		if err := fs.Parse(args); err != nil {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
		if dir == "" {
			return fmt.Errorf("%w: report needs -dir", errUsage)
		}
		return writeReport(dir, meta, os.Stdout)
	default:
		return fmt.Errorf("%w: unknown command %q", errUsage, cmd)
	}
}
