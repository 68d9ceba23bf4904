package main

// The first-ping measurement with the Go client (first-ping -client go):
// one remote-access client of vpngw's engine, as the load client makes
// them (p2sPeers), connects; as soon as its Child SA is installed it sends
// an ICMP echo request inside ESP (UDP-encapsulated, esp.OutboundSA from
// the Child SA's keys) to the host behind the gateway, again every 2 ms,
// and the sample ends with the first echo reply it decrypts. The client's
// own work is a few milliseconds of Go with no TUN, kernel routes or
// virtual address to install, so the figure is mostly the gateway's: its
// two IKE exchanges, its Child SA and route installation, and its data
// path for the first packet both ways.
//
// What the client does before its timer starts, as any client may: its
// certificate and key exist already, and its IKE_SA_INIT's ECDH key pair
// is drawn ahead (a transform.KeyPool, refilled in the pause between
// connects; a fresh pair every connect, never reused). Inside the window
// it does only what depends on the gateway: g^ir, the keys, its AUTH
// signature, checking the gateway's answer, the first packet. The same
// client code runs against every gateway measured, so its cost adds the
// same to each.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime/metrics"
	"sync"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"

	"github.com/vpngw/vpngw/internal/esp"
	"github.com/vpngw/vpngw/internal/ike"
	"github.com/vpngw/vpngw/internal/ike/message"
	"github.com/vpngw/vpngw/internal/transform"
)

// pingHost is scaleHost that keeps the Child SA and notes when each IKE
// message leaves.
type pingHost struct {
	*scaleHost
	child *ike.ChildSA
	// t0 is the connect's start, sent the times its IKE messages were
	// handed to the socket.
	t0   time.Time
	sent []time.Duration
}

func (h *pingHost) SendIKE(p ike.Packet) {
	// Before the write: on a veth pair the sending system call carries
	// the datagram into the gateway's socket itself.
	h.sent = append(h.sent, time.Since(h.t0))
	h.scaleHost.SendIKE(p)
}

func (h *pingHost) InstallChildSA(c *ike.ChildSA, outbound bool) error {
	h.child = c
	return h.scaleHost.InstallChildSA(c, outbound)
}

// goPingOptions add the client's side to firstPingOptions.
type goPingOptions struct {
	firstPingOptions
	P2SDir    string
	Responder netip.Addr
}

// runGoFirstPing runs o.Tries connects of a Go client, each followed by a
// Delete.
func runGoFirstPing(ctx context.Context, o goPingOptions) ([]PingSample, error) {
	ikeP, err := transform.ParseProposals(scaleIKE, false)
	if err != nil {
		return nil, err
	}
	espP, err := transform.ParseProposals(scaleESP, true)
	if err != nil {
		return nil, err
	}
	// One certificate per connect (distinct identities, as the load
	// client's), issued before any timing.
	peers, err := p2sPeers(o.P2SDir, o.Tries, o.Responder, ikeP, espP, true)
	if err != nil {
		return nil, err
	}
	p500, p4500, err := listenIKE()
	if err != nil {
		return nil, err
	}
	defer p500.Close()
	defer p4500.Close()
	in := make(chan ike.Packet, 64)
	espIn := make(chan []byte, 64)
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	startReceivers(rctx, p500, p4500, in, espIn)
	// The client's ECDH key pairs, drawn ahead (the package comment).
	keys := transform.NewKeyPool(1, 100*time.Millisecond, nil)
	var kwg sync.WaitGroup
	kwg.Go(func() { keys.Run(rctx) })
	defer func() { stop(); kwg.Wait() }()
	group := ikeP[0].DH[0]
	if err := keys.Fill(group); err != nil {
		return nil, err
	}
	var out []PingSample
	for try := 1; try <= o.Tries; try++ {
		s := PingSample{Repeat: o.Repeat, Impl: o.Impl, Client: "go", Try: try}
		if err := keyReady(ctx, keys, group); err != nil {
			return out, err
		}
		var cost stepCost
		fp, ini, ikeIn, ikeOut, err := goFirstPing(ctx, o, peers[try-1], keys, p500, p4500, in, espIn, &cost)
		s.FirstPingMs, s.InitiateMs = ms(fp), ms(ini)
		s.AuthCPUMs, s.AuthFaults, s.AuthGCs = ms(cost.cpu), cost.faults, cost.gcs
		s.Leftover, s.Other = cost.leftover, cost.other
		for _, d := range ikeIn {
			s.IKEInMs = append(s.IKEInMs, ms(d))
		}
		for _, d := range ikeOut {
			s.IKEOutMs = append(s.IKEOutMs, ms(d))
		}
		if err != nil {
			s.Error = err.Error()
		}
		out = append(out, s)
		if err := pause(ctx, 500*time.Millisecond); err != nil {
			return out, err
		}
	}
	return out, nil
}

// goFirstPing is one connect of peer: the time to the first echo reply,
// to the Child SA, to the arrival of each IKE message and to the sending
// of each of the client's (until the Child SA).
func goFirstPing(ctx context.Context, o goPingOptions, peer ike.Peer, keys *transform.KeyPool, p500, p4500 *ipv4.PacketConn, in <-chan ike.Packet, espIn <-chan []byte, auth *stepCost) (first, child time.Duration, ikeIn, ikeOut []time.Duration, err error) {
	h := &pingHost{scaleHost: &scaleHost{p500: p500, p4500: p4500, up: map[string]bool{}, vips: map[string]netip.Addr{}}}
	eng := ike.New(ike.Config{Keys: keys}, h, slog.New(slog.DiscardHandler))
	if err := eng.SetPeers(time.Now(), []ike.Peer{peer}); err != nil {
		return 0, 0, nil, nil, err
	}
	// Leave with a Delete (the gateway frees the address) and drain.
	defer func() {
		now := time.Now()
		_ = eng.Terminate(now, peer.Name)
		end := now.Add(time.Second)
		for time.Now().Before(end) && eng.Established(peer.Name) {
			select {
			case p := <-in:
				eng.HandlePacket(time.Now(), p)
			case <-time.After(10 * time.Millisecond):
				eng.Tick(time.Now())
			}
		}
	}()
	var (
		outSA   *esp.OutboundSA
		inSA    *esp.InboundSA
		vip     netip.Addr
		childAt time.Time
		seq     int
	)
	id := int(peer.Local.As4()[3])<<8 | seqID()
	send := func() error {
		b, err := echoPacket(vip, o.Dst, id, seq, outSA)
		seq++
		if err != nil {
			return err
		}
		c := h.child
		_, err = p4500.WriteTo(b, &ipv4.ControlMessage{Src: c.Local.Addr().AsSlice()}, net.UDPAddrFromAddrPort(c.Remote))
		return err
	}
	bound := time.NewTimer(o.Bound)
	defer bound.Stop()
	tick := time.NewTicker(o.Every)
	defer tick.Stop()
	// A packet left from the previous connect (the answer to its Delete,
	// after the drain stopped) is not this connect's: drop it before the
	// timer starts, or it would pass for the IKE_SA_INIT answer.
	for drained := false; !drained; {
		select {
		case p := <-in:
			auth.leftover = append(auth.leftover, describeIKE(p.Data))
		default:
			drained = true
		}
	}
	t0 := time.Now()
	h.t0 = t0
	if err := eng.Initiate(t0, peer.Name); err != nil {
		return 0, 0, nil, nil, err
	}
	for {
		select {
		case <-ctx.Done():
			return 0, 0, ikeIn, h.sent, ctx.Err()
		case <-bound.C:
			return 0, 0, ikeIn, h.sent, fmt.Errorf("no echo reply within %v", o.Bound)
		case p := <-in:
			now := time.Now()
			// Only the answers to the client's IKE_SA_INIT and IKE_AUTH
			// are steps; the first one's handling is the client's part of
			// IKE_AUTH (it sends its IKE_AUTH from inside HandlePacket).
			hd, herr := message.ParseHeader(p.Data)
			step := herr == nil && hd.IsResponse() && (hd.Exchange == message.IKESAInit || hd.Exchange == message.IKEAuth)
			if step {
				ikeIn = append(ikeIn, now.Sub(t0))
			} else {
				auth.other = append(auth.other, describeIKE(p.Data))
			}
			if step && hd.Exchange == message.IKESAInit {
				c0 := costNow()
				eng.HandlePacket(now, p)
				c := costNow().since(c0)
				auth.cpu, auth.faults, auth.gcs = c.cpu, c.faults, c.gcs
			} else {
				eng.HandlePacket(now, p)
			}
		case b := <-espIn:
			if inSA == nil {
				continue
			}
			if ok, err := isEchoReply(b, inSA, id); err == nil && ok {
				return time.Since(t0), childAt.Sub(t0), ikeIn, h.sent, nil
			}
		case <-tick.C:
			eng.Tick(time.Now())
			if outSA != nil {
				if err := send(); err != nil {
					return 0, childAt.Sub(t0), ikeIn, h.sent, err
				}
			}
		}
		if outSA == nil && h.child != nil {
			childAt = time.Now()
			var err error
			if outSA, inSA, err = espSAs(h.child); err != nil {
				return 0, childAt.Sub(t0), ikeIn, h.sent, err
			}
			if vip = h.vips[peer.Name]; !vip.IsValid() {
				return 0, childAt.Sub(t0), ikeIn, h.sent, errors.New("Child SA without an address")
			}
			if err := send(); err != nil {
				return 0, childAt.Sub(t0), ikeIn, h.sent, err
			}
		}
	}
}

// keyReady waits (up to a second) until keys holds a key pair of group.
func keyReady(ctx context.Context, keys *transform.KeyPool, group transform.ID) error {
	end := time.Now().Add(time.Second)
	for keys.Ready(group) == 0 {
		if time.Now().After(end) {
			return fmt.Errorf("no %v key pair drawn ahead within a second", group)
		}
		if err := pause(ctx, time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

// stepCost is what the client process spent over a step (PingSample's
// AuthCPUMs, AuthFaults, AuthGCs), or a reading of its counters.
type stepCost struct {
	cpu    time.Duration
	faults int64
	gcs    uint32
	// leftover describes the packets of the previous connect dropped
	// before the timer started (PingSample.Leftover).
	leftover []string
	// other describes the other IKE packets that arrived during the
	// connect (PingSample.Other).
	other []string
}

// describeIKE names an IKE message by its header: "INFORMATIONAL
// response".
func describeIKE(b []byte) string {
	h, err := message.ParseHeader(b)
	if err != nil {
		return "not IKE"
	}
	if h.IsResponse() {
		return h.Exchange.String() + " response"
	}
	return h.Exchange.String() + " request"
}

// costNow reads the process's CPU time, minor faults and GC cycles (a
// system call and a runtime/metrics read, no stop of the world: a few
// microseconds inside the step).
func costNow() stepCost {
	var ru unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &ru)
	gc := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(gc)
	c := stepCost{cpu: time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), faults: ru.Minflt}
	if gc[0].Value.Kind() == metrics.KindUint64 {
		c.gcs = uint32(gc[0].Value.Uint64())
	}
	return c
}

func (c stepCost) since(c0 stepCost) stepCost {
	return stepCost{cpu: c.cpu - c0.cpu, faults: c.faults - c0.faults, gcs: c.gcs - c0.gcs}
}

// seqID varies the echo ID per process.
func seqID() int { return int(time.Now().UnixNano()>>10) & 0xff }

// espSAs are the ESP SAs of an installed Child SA.
func espSAs(c *ike.ChildSA) (*esp.OutboundSA, *esp.InboundSA, error) {
	outC, err := transform.NewCipher(c.Encr.ID, c.Encr.KeyBits, c.Integ, c.OutEncKey, c.OutIntegKey)
	if err != nil {
		return nil, nil, err
	}
	inC, err := transform.NewCipher(c.Encr.ID, c.Encr.KeyBits, c.Integ, c.InEncKey, c.InIntegKey)
	if err != nil {
		return nil, nil, err
	}
	out, err := esp.NewOutboundSA(esp.OutboundConfig{SPI: c.OutSPI, Encr: c.Encr.ID, Cipher: outC, ESN: c.ESN})
	if err != nil {
		return nil, nil, err
	}
	in, err := esp.NewInboundSA(esp.InboundConfig{SPI: c.InSPI, Encr: c.Encr.ID, Cipher: inC, ESN: c.ESN})
	if err != nil {
		return nil, nil, err
	}
	return out, in, nil
}

// echoPacket is an ICMP echo request from src to dst in an IPv4 packet,
// sealed by sa (the ESP packet, SPI first).
func echoPacket(src, dst netip.Addr, id, seq int, sa *esp.OutboundSA) ([]byte, error) {
	msg := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: id, Seq: seq & 0xffff, Data: []byte("vpngw-bench first ping")}}
	body, err := msg.Marshal(nil)
	if err != nil {
		return nil, err
	}
	ip := make([]byte, 20, 20+len(body))
	ip[0], ip[8], ip[9] = 0x45, 64, 1 // IPv4, TTL, ICMP
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(body)))
	s, d := src.As4(), dst.As4()
	copy(ip[12:16], s[:])
	copy(ip[16:20], d[:])
	binary.BigEndian.PutUint16(ip[10:], ipChecksum(ip))
	ip = append(ip, body...)
	off := sa.Headroom()
	buf := make([]byte, off+len(ip), off+len(ip)+sa.Tailroom())
	copy(buf[off:], ip)
	return sa.Seal(buf, off)
}

func ipChecksum(h []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(h); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// isEchoReply decrypts an ESP packet and reports whether it carries an
// ICMP echo reply with id.
func isEchoReply(b []byte, sa *esp.InboundSA, id int) (bool, error) {
	buf := append(make([]byte, esp.ScratchLen), b...)
	inner, _, _, err := sa.Open(buf, esp.ScratchLen)
	if err != nil {
		return false, err
	}
	if len(inner) < 20 || inner[0]>>4 != 4 || inner[9] != 1 {
		return false, nil
	}
	hl := int(inner[0]&0x0f) * 4
	if len(inner) < hl {
		return false, nil
	}
	m, err := icmp.ParseMessage(1, inner[hl:])
	if err != nil || m.Type != ipv4.ICMPTypeEchoReply {
		return false, err
	}
	e, ok := m.Body.(*icmp.Echo)
	return ok && e.ID == id, nil
}
