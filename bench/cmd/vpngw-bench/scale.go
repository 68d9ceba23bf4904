package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/vpngw/vpngw/internal/ike"
	"github.com/vpngw/vpngw/internal/transform"
)

// scaleFile holds one ScaleSample per line.
const scaleFile = "scale.jsonl"

// Scale plan: peer i (0-based) is the initiator address scaleAddr(i), which
// protects the site prefix scaleSite(i); the responder protects scaleHub.
// scripts/bench.sh writes the responder's configuration from the same plan
// (vpngw-bench scale-plan).
var scaleHub = netip.MustParsePrefix("172.16.0.0/16")

func scaleAddr(i int) netip.Addr { return addU32(netip.MustParseAddr("10.64.0.1"), uint32(i)) }
func scaleSite(i int) netip.Prefix {
	return netip.PrefixFrom(addU32(netip.MustParseAddr("10.128.0.0"), uint32(i)<<8), 24)
}
func scaleName(i int) string { return fmt.Sprintf("site%05d", i) }
func scalePSK(i int) string  { return fmt.Sprintf("vbenchScale%05dSecret", i) }

func addU32(a netip.Addr, n uint32) netip.Addr {
	b := a.As4()
	v := binary.BigEndian.Uint32(b[:]) + n
	binary.BigEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}

// scaleOptions describe one scale run against one responder.
type scaleOptions struct {
	Out       string
	Repeat    int
	Impl      string // vpngw or strongswan
	N         int
	Window    int           // IKE_SA+CHILD_SA setups in flight at most
	Responder netip.Addr    // the responder's IKE address
	PID       int           // the responder's PID (CPU and RSS)
	HubPID    int           // the control plane's PID (remote mode; 0: none)
	BaseRSSkB int           // the responder's RSS with no peer configured
	Idle      time.Duration // idle window with all tunnels up
	// Settle is the wait between the last setup and the idle window (the
	// responder's last installs, logs and, in remote mode, reports).
	Settle   time.Duration
	Deadline time.Duration // the whole setup phase
	IKE, ESP string        // proposals
	// DPD: the client's peers keep the default DPD timeout; false: the
	// longest (no liveness check within a run).
	DPD bool
	// P2SDir, when set, makes the clients point-to-site clients with
	// certificates from the plan in P2SDir (see p2s.go).
	P2SDir string
	// Rekeys is how many Child SA rekeys a second the clients start during
	// the idle window, spread over the window and over the clients (0:
	// none): the steady stream of state changes a large gateway sees
	// (rekeys, connects and disconnects) on top of the liveness checks.
	Rekeys int
}

// ScaleSample is one scale run.
type ScaleSample struct {
	Repeat int    `json:"repeat"`
	Impl   string `json:"impl"`
	N      int    `json:"n"`
	Window int    `json:"window"`
	// Up is the number of peers with an IKE SA and a Child SA at the end
	// of the setup phase; SetupSec how long the phase took.
	Up       int     `json:"up"`
	SetupSec float64 `json:"setupSec"`
	// SetupsPerSec is Up / SetupSec.
	SetupsPerSec float64 `json:"setupsPerSec"`
	// RespCPUms is the responder's CPU time (utime+stime) during the setup
	// phase; RespCPUPerSetupMs that divided by Up.
	RespCPUms         float64 `json:"respCpuMs"`
	RespCPUPerSetupMs float64 `json:"respCpuPerSetupMs"`
	// InitCPUms is this load client's CPU time in the setup phase.
	InitCPUms float64 `json:"initCpuMs"`
	// BaseRSSkB is the responder's RSS with no peer configured, RSSkB with
	// N peers configured and Up tunnels established; KBPerTunnel is
	// (RSSkB-BaseRSSkB)/Up: tunnel and per-peer configuration state.
	BaseRSSkB   int     `json:"baseRssKB"`
	RSSkB       int     `json:"rssKB"`
	KBPerTunnel float64 `json:"kbPerTunnel"`
	// IdlePctCore is the responder's CPU in the idle window with all
	// tunnels up, in % of one core.
	IdlePctCore float64 `json:"idlePctCore"`
	// IdleDatagramsPerSec is the UDP datagrams the responder's network
	// namespace received a second in the idle window (the clients'
	// liveness checks and answers, and rekeys: /proc/PID/net/snmp), and
	// IdleUsPerDatagram the responder's CPU per datagram: the idle figure
	// per unit of the work that remains, which does not swing with how
	// many liveness checks fell in the window.
	IdleDatagramsPerSec float64 `json:"idleDatagramsPerSec,omitempty"`
	IdleUsPerDatagram   float64 `json:"idleUsPerDatagram,omitempty"`
	// HubIdlePctCore is the same for the control plane the responder
	// reports to (an agent in remote mode; absent in file mode).
	HubIdlePctCore float64 `json:"hubIdlePctCore,omitempty"`
	// DPD is whether dead peer detection was on (see writeScalePlan).
	DPD bool `json:"dpd"`
	// Rekeys is the Child SA rekeys a second asked for in the idle window
	// (ScaleOptions.Rekeys) and RekeysStarted how many the clients
	// started in it.
	Rekeys        int `json:"rekeys,omitempty"`
	RekeysStarted int `json:"rekeysStarted,omitempty"`
	// Mode is "p2s" for point-to-site clients (empty: site-to-site
	// peers); Addresses is then the number of distinct pool addresses
	// the Up clients got (a clash is an Error).
	Mode      string `json:"mode,omitempty"`
	Addresses int    `json:"addresses,omitempty"`
	Error     string `json:"error,omitempty"`
}

// scaleHost is the load client's ike.Host: IKE over two UDP sockets
// (ports 500 and 4500, any local address, the source chosen per packet),
// Child SAs only counted (no ESP is sent).
type scaleHost struct {
	p500, p4500 *ipv4.PacketConn
	up          map[string]bool // peers with a Child SA
	upCount     int
	sendErrs    int
	// vips are the addresses point-to-site clients were assigned.
	vips map[string]netip.Addr
}

func (h *scaleHost) SendIKE(p ike.Packet) {
	pc, data := h.p500, p.Data
	if p.Local.Port() == 4500 {
		pc = h.p4500
		data = append(make([]byte, 4, 4+len(p.Data)), p.Data...) // non-ESP marker
	}
	cm := &ipv4.ControlMessage{Src: p.Local.Addr().AsSlice()}
	if _, err := pc.WriteTo(data, cm, net.UDPAddrFromAddrPort(p.Remote)); err != nil {
		h.sendErrs++
	}
}
func (h *scaleHost) InstallChildSA(c *ike.ChildSA, _ bool) error {
	if !h.up[c.Peer] {
		h.up[c.Peer] = true
		h.upCount++
	}
	return nil
}
func (h *scaleHost) ActivateOutbound(uint32)                             {}
func (h *scaleHost) DeleteChildSA(uint32)                                {}
func (h *scaleHost) PeerEndpoint(string, netip.AddrPort, netip.AddrPort) {}
func (h *scaleHost) Event(e ike.Event) {
	if e.Kind == ike.EventIKEUp && e.VirtualIP.IsValid() {
		h.vips[e.Peer] = e.VirtualIP
	}
	if e.Kind == ike.EventIKEDown && h.up[e.Peer] {
		h.up[e.Peer] = false
		h.upCount--
	}
}

func listenPktinfo(port int) (*ipv4.PacketConn, error) {
	c, err := net.ListenPacket("udp4", ":"+strconv.Itoa(port))
	if err != nil {
		return nil, err
	}
	pc := ipv4.NewPacketConn(c)
	if err := pc.SetControlMessage(ipv4.FlagDst, true); err != nil {
		c.Close()
		return nil, err
	}
	return pc, nil
}

// listenIKE opens the client's IKE sockets, ports 500 and 4500.
func listenIKE() (p500, p4500 *ipv4.PacketConn, err error) {
	if p500, err = listenPktinfo(500); err != nil {
		return nil, nil, err
	}
	if p4500, err = listenPktinfo(4500); err != nil {
		p500.Close()
		return nil, nil, err
	}
	return p500, p4500, nil
}

// runScale establishes N IKE SAs with Child SAs from N source addresses
// against one responder, at most Window in flight, then watches the
// responder idle. It runs in the initiator's namespace.
func runScale(ctx context.Context, o scaleOptions) (ScaleSample, error) {
	s := ScaleSample{Repeat: o.Repeat, Impl: o.Impl, N: o.N, Window: o.Window, BaseRSSkB: o.BaseRSSkB, DPD: o.DPD, Rekeys: o.Rekeys}
	if o.P2SDir != "" {
		s.Mode = "p2s"
	}
	ikeP, err := transform.ParseProposals(o.IKE, false)
	if err != nil {
		return s, err
	}
	espP, err := transform.ParseProposals(o.ESP, true)
	if err != nil {
		return s, err
	}
	p500, p4500, err := listenIKE()
	if err != nil {
		return s, err
	}
	defer p500.Close()
	defer p4500.Close()
	h := &scaleHost{p500: p500, p4500: p4500, up: map[string]bool{}, vips: map[string]netip.Addr{}}
	eng := ike.New(ike.Config{}, h, slog.New(slog.DiscardHandler))
	peers := make([]ike.Peer, o.N)
	if o.P2SDir != "" {
		if peers, err = p2sPeers(o.P2SDir, o.N, o.Responder, ikeP, espP, o.DPD); err != nil {
			return s, err
		}
	}
	for i := range o.N {
		if o.P2SDir != "" {
			break
		}
		peers[i] = ike.Peer{
			Name: scaleName(i), Local: scaleAddr(i), Remote: o.Responder, PSK: []byte(scalePSK(i)),
			IKEProposals: ikeP, ESPProposals: espP, Mode: ike.ModeResponderOnly, // started one by one below
			LocalTS: []netip.Prefix{scaleSite(i)}, RemoteTS: []netip.Prefix{scaleHub},
		}
		if !o.DPD {
			peers[i].DPDTimeout = ike.MaxDPDTimeout
		}
	}
	if err := eng.SetPeers(time.Now(), peers); err != nil {
		return s, err
	}
	in := make(chan ike.Packet, 4096)
	rctx, stopRecv := context.WithCancel(ctx)
	defer stopRecv()
	startReceivers(rctx, p500, p4500, in, nil)
	cpu0, _ := procTicks(o.PID)
	self0, _ := procTicks(os.Getpid())
	start := time.Now()
	deadline := time.NewTimer(o.Deadline)
	defer deadline.Stop()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	next, started := 0, map[string]time.Time{}
	// A setup that takes longer than this is counted out of the window
	// (it keeps retrying on its own).
	const stuck = 10 * time.Second
	loop := true
	for loop && h.upCount < o.N {
		now := time.Now()
		inFlight := 0
		for name, t := range started {
			if h.up[name] || now.Sub(t) > stuck {
				delete(started, name)
				continue
			}
			inFlight++
		}
		for inFlight < o.Window && next < o.N {
			_ = eng.Initiate(now, scaleName(next))
			started[scaleName(next)] = now
			next++
			inFlight++
		}
		if d := eng.NextDeadline(); !d.IsZero() {
			timer.Reset(max(time.Until(d), 0))
		} else {
			timer.Reset(time.Second)
		}
		select {
		case <-ctx.Done():
			return s, ctx.Err()
		case <-deadline.C:
			loop = false
		case p := <-in:
			eng.HandlePacket(time.Now(), p)
			for drained := 0; drained < 256; drained++ { // batch what is queued
				select {
				case p := <-in:
					eng.HandlePacket(time.Now(), p)
					continue
				default:
				}
				break
			}
		case <-timer.C:
			eng.Tick(time.Now())
		}
	}
	elapsed := time.Since(start)
	cpu1, _ := procTicks(o.PID)
	self1, _ := procTicks(os.Getpid())
	s.Up = h.upCount
	s.SetupSec = elapsed.Seconds()
	if s.Up > 0 {
		s.SetupsPerSec = float64(s.Up) / s.SetupSec
		s.RespCPUms = float64(cpu1-cpu0) * 1000 / float64(clockTicks())
		s.RespCPUPerSetupMs = s.RespCPUms / float64(s.Up)
	}
	s.InitCPUms = float64(self1-self0) * 1000 / float64(clockTicks())
	if s.Up < o.N {
		s.Error = fmt.Sprintf("%d of %d tunnels up after %v", s.Up, o.N, o.Deadline)
	}
	if o.P2SDir != "" {
		up := map[string]netip.Addr{}
		for name, a := range h.vips {
			if h.up[name] {
				up[name] = a
			}
		}
		var err error
		s.Addresses, err = checkAddresses(up)
		switch {
		case err != nil:
			s.Error = err.Error()
		case s.Addresses != s.Up && s.Error == "":
			s.Error = fmt.Sprintf("%d clients up but %d reported an address", s.Up, s.Addresses)
		}
	}
	// Settle (the responder's last installs and logs), then the idle
	// window: the engine keeps answering liveness checks meanwhile.
	idleStart := time.Now().Add(o.Settle)
	var icpu0, hcpu0, udp0 uint64
	var udp0Err error
	measuring := false
	var upNames []string // the clients up, for the rekeys
	for name, ok := range h.up {
		if ok {
			upNames = append(upNames, name)
		}
	}
	slices.Sort(upNames)
	nextRekey := 0 // the next client to rekey
	for {
		now := time.Now()
		if !measuring && !now.Before(idleStart) {
			icpu0, _ = procTicks(o.PID)
			udp0, udp0Err = procUDPIn(o.PID)
			if o.HubPID > 0 {
				hcpu0, _ = procTicks(o.HubPID)
			}
			measuring = true
		}
		if measuring && now.Sub(idleStart) >= o.Idle {
			break
		}
		if measuring && o.Rekeys > 0 && len(upNames) > 0 {
			// Keep the rekeys started on the line of Rekeys a second.
			due := int(now.Sub(idleStart).Seconds() * float64(o.Rekeys))
			for ; s.RekeysStarted < due; s.RekeysStarted++ {
				_ = eng.Rekey(now, upNames[nextRekey%len(upNames)], false) // a client whose SA is busy just skips one
				nextRekey++
			}
		}
		wake := time.Second / 10
		if o.Rekeys > 0 {
			wake = min(wake, time.Second/time.Duration(max(o.Rekeys, 1)))
		}
		if d := eng.NextDeadline(); !d.IsZero() {
			wake = min(wake, max(time.Until(d), 0))
		}
		timer.Reset(wake)
		select {
		case <-ctx.Done():
			return s, ctx.Err()
		case p := <-in:
			eng.HandlePacket(time.Now(), p)
		case <-timer.C:
			eng.Tick(time.Now())
		}
	}
	icpu1, _ := procTicks(o.PID)
	s.IdlePctCore = float64(icpu1-icpu0) / float64(clockTicks()) / o.Idle.Seconds() * 100
	if udp1, err := procUDPIn(o.PID); err == nil && udp0Err == nil && udp1 > udp0 {
		s.IdleDatagramsPerSec = float64(udp1-udp0) / o.Idle.Seconds()
		s.IdleUsPerDatagram = float64(icpu1-icpu0) / float64(clockTicks()) * 1e6 / float64(udp1-udp0)
	}
	if o.HubPID > 0 {
		hcpu1, _ := procTicks(o.HubPID)
		s.HubIdlePctCore = float64(hcpu1-hcpu0) / float64(clockTicks()) / o.Idle.Seconds() * 100
	}
	if rss, err := procRSSkB(o.PID); err == nil {
		s.RSSkB = rss
		if s.Up > 0 && o.BaseRSSkB > 0 {
			s.KBPerTunnel = float64(rss-o.BaseRSSkB) / float64(s.Up)
		}
	}
	// Leave without deleting: the responder is stopped next, and Deletes
	// for thousands of SAs would only load it.
	return s, nil
}

// startReceivers reads IKE from both ports into in until ctx ends. ESP
// arriving on port 4500 goes to espIn (a copy, from the SPI on) when it is
// not nil, and is dropped otherwise (the scale mode sends none).
func startReceivers(ctx context.Context, p500, p4500 *ipv4.PacketConn, in chan<- ike.Packet, espIn chan<- []byte) {
	for _, pc := range []*ipv4.PacketConn{p500, p4500} {
		go func() {
			buf := make([]byte, 65536)
			port := uint16(500)
			if pc == p4500 {
				port = 4500
			}
			for ctx.Err() == nil {
				n, cm, src, err := pc.ReadFrom(buf)
				if err != nil {
					if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
						return
					}
					continue
				}
				data := buf[:n]
				if port == 4500 {
					if n < 4 {
						continue // keepalive
					}
					if binary.BigEndian.Uint32(data) != 0 {
						if espIn != nil {
							select {
							case espIn <- append([]byte(nil), data...):
							default:
							}
						}
						continue
					}
					data = data[4:]
				}
				ua, _ := src.(*net.UDPAddr)
				if ua == nil || cm == nil {
					continue
				}
				dst, _ := netip.AddrFromSlice(cm.Dst)
				pkt := ike.Packet{Data: append([]byte(nil), data...), Local: netip.AddrPortFrom(dst.Unmap(), port), Remote: ua.AddrPort()}
				select {
				case in <- pkt:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
}

// procRSSkB is a process's resident set (VmRSS) in kB.
func procRSSkB(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			return strconv.Atoi(f[1])
		}
	}
	return 0, errors.New("no VmRSS")
}

// writeScalePlan writes the responder's side of the plan for n peers:
// the initiator's addresses (an `ip -batch` file), the vpngw agent's
// connections and strongSwan's connections and secrets. Both responders
// get n explicit connections (one per peer: address, PSK, prefixes).
//
// With dpd, vpngw keeps its default DPD timeout (45 s: it checks a peer
// silent for 24–30 s) and strongSwan gets dpd_delay = 30s; without, vpngw
// gets the longest timeout (3600 s; it cannot turn DPD off) and strongSwan
// dpd_delay = 0.
func writeScalePlan(dir string, n int, respAddr, dev, ikeP, espP, sock string, dpd bool) error {
	vpngwDPD, swanDPD := "", "30s"
	if !dpd {
		vpngwDPD, swanDPD = fmt.Sprintf("    dpdTimeoutSeconds: %d\n", int(ike.MaxDPDTimeout/time.Second)), "0"
	}
	var ipb, yml, swan, sec strings.Builder
	for i := range n {
		fmt.Fprintf(&ipb, "address add %s/32 dev %s\n", scaleAddr(i), dev)
	}
	fmt.Fprintf(&yml, "# generated by vpngw-bench scale-plan: %d connections\nname: scale\nlocalAddress: %s\nlocalPrefixes: [%s]\nrawEsp: false\nstatusSocket: %s\ntunnel:\n  device: vpngw0\n  mtu: 1400\nconnections:\n", n, respAddr, scaleHub, sock)
	for i := range n {
		fmt.Fprintf(&yml, "  - name: %s\n    remoteAddress: %s\n    remotePrefixes: [%s]\n    sharedKey: %s\n    connectionMode: ResponderOnly\n    ikeProposals: %s\n    espProposals: %s\n    udpEncapsulation: always\n%s",
			scaleName(i), scaleAddr(i), scaleSite(i), scalePSK(i), ikeP, espP, vpngwDPD)
	}
	fmt.Fprintf(&swan, "# generated by vpngw-bench scale-plan: %d connections\nconnections {\n", n)
	for i := range n {
		fmt.Fprintf(&swan, "\t%s {\n\t\tversion = 2\n\t\tlocal_addrs = %s\n\t\tremote_addrs = %s\n\t\tencap = yes\n\t\tproposals = %s\n\t\trekey_time = 0\n\t\tdpd_delay = %s\n\t\tlocal {\n\t\t\tauth = psk\n\t\t\tid = %s\n\t\t}\n\t\tremote {\n\t\t\tauth = psk\n\t\t\tid = %s\n\t\t}\n\t\tchildren {\n\t\t\tnet {\n\t\t\t\tlocal_ts = %s\n\t\t\t\tremote_ts = %s\n\t\t\t\tesp_proposals = %s\n\t\t\t\tmode = tunnel\n\t\t\t\trekey_time = 0\n\t\t\t\tstart_action = none\n\t\t\t}\n\t\t}\n\t}\n",
			scaleName(i), respAddr, scaleAddr(i), ikeP, swanDPD, respAddr, scaleAddr(i), scaleHub, scaleSite(i), espP)
		fmt.Fprintf(&sec, "\tike-%s {\n\t\tid-a = %s\n\t\tid-b = %s\n\t\tsecret = \"%s\"\n\t}\n", scaleName(i), respAddr, scaleAddr(i), scalePSK(i))
	}
	swan.WriteString("}\nsecrets {\n" + sec.String() + "}\n")
	for name, b := range map[string]string{"scale-addrs.batch": ipb.String(), "scale-vpngw.yaml": yml.String(), "scale-swanctl.conf": swan.String()} {
		if err := os.WriteFile(dir+"/"+name, []byte(b), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// The scale mode's proposals, the same for both responders.
const (
	scaleIKE = "aes256gcm16-prfsha256-ecp256"
	scaleESP = "aes256gcm16"
)

// printScale prints one line per sample.
func printScale(samples []ScaleSample) {
	for _, s := range samples {
		addrs := ""
		if s.Mode == "p2s" {
			addrs = fmt.Sprintf(" (%d distinct pool addresses)", s.Addresses)
		}
		hub := ""
		if s.HubIdlePctCore > 0 {
			hub = fmt.Sprintf(" (control plane %.2f%% core)", s.HubIdlePctCore)
		}
		if s.IdleDatagramsPerSec > 0 {
			hub += fmt.Sprintf(", %.0f datagrams/s in, %.1f µs per datagram", s.IdleDatagramsPerSec, s.IdleUsPerDatagram)
		}
		if s.Rekeys > 0 {
			hub += fmt.Sprintf(", %d client rekeys started in it (%d/s asked)", s.RekeysStarted, s.Rekeys)
		}
		fmt.Printf("  r%d %-10s N=%d up %d%s in %.1fs: %.0f setups/s, responder %.2f ms CPU/setup, %.1f kB/tunnel, idle %.2f%% core%s%s\n",
			s.Repeat, s.Impl, s.N, s.Up, addrs, s.SetupSec, s.SetupsPerSec, s.RespCPUPerSetupMs, s.KBPerTunnel, s.IdlePctCore, hub, errSuffix(s.Error))
	}
}

func errSuffix(e string) string {
	if e == "" {
		return ""
	}
	return " (" + e + ")"
}

// writeScaleReport prints, per peer count, each figure's medians for both
// responders and the ratio vpngw/strongSwan of every repeat (samples of
// the same repeat ran back to back) with their median, as markdown.
func writeScaleReport(dir string, w io.Writer) error {
	b, err := os.ReadFile(filepath.Join(dir, scaleFile))
	if errors.Is(err, fs.ErrNotExist) {
		// PING_ONLY: the first-ping part alone.
		return writePingReport(dir, w)
	}
	if err != nil {
		return err
	}
	type key struct {
		n, repeat int
		impl      string
	}
	got := map[key]ScaleSample{}
	ns, reps := map[int]bool{}, map[int]bool{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var s ScaleSample
		if err := json.Unmarshal([]byte(l), &s); err != nil {
			return fmt.Errorf("%s: %w", scaleFile, err)
		}
		got[key{s.N, s.Repeat, s.Impl}] = s
		ns[s.N], reps[s.Repeat] = true, true
	}
	p2s := false
	for _, s := range got {
		p2s = p2s || s.Mode == "p2s"
	}
	setups, memory := "IKE_SA+CHILD_SA setups/s", "responder memory per tunnel (kB, incl. peer config)"
	if p2s {
		setups, memory = "P2S client connects/s (certificate auth, CP address, Child SA)", "responder memory per connected client (kB)"
	}
	figures := []struct {
		name string
		v    func(ScaleSample) float64
	}{
		{setups, func(s ScaleSample) float64 { return s.SetupsPerSec }},
		{"responder CPU per setup (ms)", func(s ScaleSample) float64 { return s.RespCPUPerSetupMs }},
		{memory, func(s ScaleSample) float64 { return s.KBPerTunnel }},
		{"responder RSS, all connected (MiB)", func(s ScaleSample) float64 { return float64(s.RSSkB) / 1024 }},
		{"responder idle CPU, all tunnels up (% of a core)", func(s ScaleSample) float64 { return s.IdlePctCore }},
		{"responder idle CPU per datagram received (µs)", func(s ScaleSample) float64 { return s.IdleUsPerDatagram }},
		{"load client CPU per setup (ms)", func(s ScaleSample) float64 { return s.InitCPUms / max(float64(s.Up), 1) }},
	}
	impls := []string{"vpngw"}
	for k := range got {
		if k.impl == "vpngw-before" {
			impls = append(impls, "vpngw-before")
			break
		}
	}
	// The machine is shared: what it was busy with before each repeat.
	if idle, err := readJSONLines[IdleSample](dir, idleFile); err == nil && len(idle) > 0 {
		var per []string
		for _, s := range idle {
			per = append(per, fmt.Sprintf("%.2f (load1 %.2f)", s.BoxCores, s.Load1))
		}
		fmt.Fprintf(w, "\nBackground before each repeat, busy cores of the box with no benchmark traffic: %s\n", strings.Join(per, ", "))
	}
	for _, n := range sortedKeys(ns) {
		unit := "peers"
		if p2s {
			unit = "point-to-site clients"
		}
		fmt.Fprintf(w, "\n### %d %s\n\n| figure | responder | median | strongSwan median | ratio to strongSwan: median | per repeat |\n|---|---|---|---|---|---|\n", n, unit)
		for _, f := range figures {
			for _, impl := range impls {
				var vv, sv, ratios []float64
				var per []string
				for _, r := range sortedKeys(reps) {
					v, okV := got[key{n, r, impl}]
					s, okS := got[key{n, r, "strongswan"}]
					if okV && v.Error == "" {
						vv = append(vv, f.v(v))
					}
					if okS && s.Error == "" {
						sv = append(sv, f.v(s))
					}
					if okV && okS && v.Error == "" && s.Error == "" && f.v(s) != 0 {
						ratios = append(ratios, f.v(v)/f.v(s))
						per = append(per, fmt.Sprintf("%.2f", f.v(v)/f.v(s)))
					} else {
						per = append(per, "–")
					}
				}
				fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", f.name, impl, fmtMedian(vv), fmtMedian(sv), fmtMedian(ratios), strings.Join(per, " "))
			}
		}
		if p2s {
			var per []string
			for _, r := range sortedKeys(reps) {
				for _, impl := range append(impls, "strongswan") {
					if s, ok := got[key{n, r, impl}]; ok {
						per = append(per, fmt.Sprintf("r%d %s %d/%d", r, impl, s.Addresses, s.Up))
					}
				}
			}
			fmt.Fprintf(w, "\nDistinct pool addresses / clients up: %s\n", strings.Join(per, ", "))
		}
		for _, r := range sortedKeys(reps) {
			for _, impl := range append(impls, "strongswan") {
				if s, ok := got[key{n, r, impl}]; ok && s.Error != "" {
					fmt.Fprintf(w, "\nrepeat %d, %s: %s (left out)\n", r, impl, s.Error)
				}
			}
		}
	}
	if err := writeScrapeReport(dir, w); err != nil {
		return err
	}
	return writePingReport(dir, w)
}

func sortedKeys(m map[int]bool) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Ints(out)
	return out
}

func fmtMedian(v []float64) string {
	if len(v) == 0 {
		return "–"
	}
	m := median(v)
	switch {
	case m >= 100:
		return fmt.Sprintf("%.0f", m)
	case m >= 1:
		return fmt.Sprintf("%.2f", m)
	}
	return fmt.Sprintf("%.3f", m)
}

// scrapeFile holds bench-scale.sh's SCRAPES samples: what requests to the
// agent's status socket (/metrics, /status) cost it, with all tunnels up.
const scrapeFile = "scrape.jsonl"

// scrapeKinds are the requests SCRAPES makes, in the report's order: GET
// /metrics plain and gzip, GET /status with every client and its summary
// (?clients=none).
var scrapeKinds = []string{"plain", "gzip", "status", "status-summary"}

// ScrapeSample is one implementation's requests of one kind in one repeat.
type ScrapeSample struct {
	Impl   string `json:"impl"`
	N      int    `json:"n"`
	Repeat int    `json:"repeat"`
	// Encoding is the kind of request, one of scrapeKinds (named when
	// /metrics was the only one).
	Encoding string  `json:"encoding"`
	CPUms    float64 `json:"cpuMs"` // the agent's CPU per request
	WallMs   int     `json:"wallMs"`
	Bytes    int     `json:"bytes"` // one scrape's response, as sent
	Scrapes  int     `json:"scrapes"`
}

// fmtRatio prints a ratio to two decimals, or three below 0.1, where two
// would print a 250-fold gain as 0.00.
func fmtRatio(r float64) string {
	if r < 0.1 {
		return fmt.Sprintf("%.3f", r)
	}
	return fmt.Sprintf("%.2f", r)
}

// writeScrapeReport prints, per peer count and kind of request, the agent's
// CPU per request for each implementation and, with vpngw-before, the ratio of
// every repeat and their median.
func writeScrapeReport(dir string, w io.Writer) error {
	samples, err := readJSONLines[ScrapeSample](dir, scrapeFile)
	if err != nil || len(samples) == 0 {
		return err
	}
	type key struct {
		n, repeat      int
		impl, encoding string
	}
	got := map[key]ScrapeSample{}
	ns, reps := map[int]bool{}, map[int]bool{}
	for _, s := range samples {
		got[key{s.N, s.Repeat, s.Impl, s.Encoding}] = s
		ns[s.N], reps[s.Repeat] = true, true
	}
	fmt.Fprintf(w, "\n### Status socket requests, all tunnels up\n\n/metrics plain and gzip, /status with every client and its summary (status-summary: ?clients=none).\n\n| N | request | responder | agent CPU per request, ms: median | per repeat | bytes per request | vpngw / vpngw-before: median | per repeat |\n|---|---|---|---|---|---|---|---|\n")
	for _, n := range sortedKeys(ns) {
		for _, enc := range scrapeKinds {
			for _, impl := range []string{"vpngw", "vpngw-before"} {
				var vv, ratios []float64
				var per, perRatio []string
				bytes := 0
				for _, r := range sortedKeys(reps) {
					s, ok := got[key{n, r, impl, enc}]
					if !ok {
						continue
					}
					vv = append(vv, s.CPUms)
					per = append(per, fmt.Sprintf("%.1f", s.CPUms))
					bytes = s.Bytes
					if b, ok := got[key{n, r, "vpngw-before", enc}]; ok && impl == "vpngw" && b.CPUms > 0 {
						ratios = append(ratios, s.CPUms/b.CPUms)
						perRatio = append(perRatio, fmtRatio(s.CPUms/b.CPUms))
					}
				}
				if len(vv) == 0 {
					continue
				}
				fmt.Fprintf(w, "| %d | %s | %s | %s | %s | %d | %s | %s |\n", n, enc, impl, fmtMedian(vv), strings.Join(per, " "), bytes, fmtMedian(ratios), strings.Join(perRatio, " "))
			}
		}
	}
	return nil
}
