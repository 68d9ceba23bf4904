// Package iketest runs an IKE engine — IKEv2's ike.Engine or IKEv1's
// ikev1.Engine — over real UDP sockets (500, and 4500 with the non-ESP
// marker of RFC 3948) inside a test's network namespace, for interop tests
// against a real peer. The engines stay pure: this package owns the sockets,
// the clock and the one goroutine the engine runs on.
package iketest

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/ike"
	"github.com/vpngw/vpngw/internal/tstest/nstest"
)

// Engine is what both IKE engines offer the driver.
type Engine interface {
	HandlePacket(now time.Time, p ike.Packet)
	Tick(now time.Time)
	NextDeadline() time.Time
}

// Host is an ike.Host on the two UDP sockets: it sends IKE and records the
// Child SAs and events the engine reports (no ESP flows).
type Host struct {
	s500, s4500 *net.UDPConn

	mu       sync.Mutex
	children map[uint32]*ike.ChildSA // by inbound SPI; guarded by mu
	events   []ike.Event             // guarded by mu
}

// SendIKE sends p from port 500, or from 4500 behind the non-ESP marker.
func (h *Host) SendIKE(p ike.Packet) {
	sock, data := h.s500, p.Data
	if p.Local.Port() == 4500 {
		sock = h.s4500
		data = append([]byte{0, 0, 0, 0}, p.Data...)
	}
	_, _ = sock.WriteToUDPAddrPort(data, p.Remote)
}

// InstallChildSA records c.
func (h *Host) InstallChildSA(c *ike.ChildSA, _ bool) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.children[c.InSPI] = c
	return nil
}

// ActivateOutbound does nothing (no data plane).
func (h *Host) ActivateOutbound(uint32) {}

// DeleteChildSA forgets the Child SA with inbound SPI in.
func (h *Host) DeleteChildSA(in uint32) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.children, in)
}

// PeerEndpoint does nothing (no data plane).
func (h *Host) PeerEndpoint(string, netip.AddrPort, netip.AddrPort) {}

// Event records e.
func (h *Host) Event(e ike.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, e)
}

// Children returns the installed Child SAs by inbound SPI (a copy).
func (h *Host) Children() map[uint32]*ike.ChildSA {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[uint32]*ike.ChildSA, len(h.children))
	for k, v := range h.children {
		out[k] = v
	}
	return out
}

// ByOutSPI returns the installed Child SAs by outbound SPI.
func (h *Host) ByOutSPI() map[uint32]*ike.ChildSA {
	out := map[uint32]*ike.ChildSA{}
	for _, c := range h.Children() {
		out[c.OutSPI] = c
	}
	return out
}

// Events returns the events reported so far (a copy).
func (h *Host) Events() []ike.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]ike.Event(nil), h.events...)
}

// Driver runs one engine on its own goroutine: received datagrams, due
// timers and calls made through Do, one at a time.
type Driver[E Engine] struct {
	// Host is the engine's ike.Host.
	Host  *Host
	calls chan func(E)
	done  chan struct{}
}

// Start opens UDP 500 and 4500 in ns, creates the engine with newEngine
// (given the Host) and runs it until the test ends; local is the address
// the engine is told packets arrived on.
func Start[E Engine](t testing.TB, ns *nstest.NS, local netip.Addr, newEngine func(ike.Host) E) *Driver[E] {
	t.Helper()
	h := &Host{children: map[uint32]*ike.ChildSA{}}
	err := ns.Do(func() error {
		var err error
		if h.s500, err = net.ListenUDP("udp4", &net.UDPAddr{Port: 500}); err != nil {
			return err
		}
		h.s4500, err = net.ListenUDP("udp4", &net.UDPAddr{Port: 4500})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	d := &Driver[E]{Host: h, calls: make(chan func(E)), done: make(chan struct{})}
	engine := newEngine(h)
	in := make(chan ike.Packet, 64)
	read := func(c *net.UDPConn, port uint16) {
		buf := make([]byte, 65536)
		for failures := 0; ; {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				// Linux reports an ICMP error (port unreachable) for an
				// earlier send on the next read, even unconnected: keep
				// reading, as the agent's receivers do (dataplane).
				if failures++; failures > 10 {
					t.Errorf("iketest: reading port %d keeps failing: %v", port, err)
					return
				}
				t.Logf("iketest: reading port %d: %v", port, err)
				continue
			}
			failures = 0
			data := append([]byte(nil), buf[:n]...)
			if port == 4500 {
				if n < 4 || binary.BigEndian.Uint32(data) != 0 {
					continue // keepalive or ESP
				}
				data = data[4:]
			}
			in <- ike.Packet{Data: data, Remote: netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), Local: netip.AddrPortFrom(local, port)}
		}
	}
	go read(h.s500, 500)
	go read(h.s4500, 4500)
	go func() {
		defer close(d.done)
		timer := time.NewTimer(time.Hour)
		defer timer.Stop()
		for {
			if dl := engine.NextDeadline(); !dl.IsZero() {
				timer.Reset(max(time.Until(dl), time.Millisecond))
			}
			select {
			case p := <-in:
				engine.HandlePacket(time.Now(), p)
			case f, ok := <-d.calls:
				if !ok {
					return
				}
				f(engine)
			case <-timer.C:
				engine.Tick(time.Now())
			}
		}
	}()
	t.Cleanup(func() {
		close(d.calls)
		<-d.done
		h.s500.Close()
		h.s4500.Close()
	})
	return d
}

// Do runs f on the engine's goroutine and waits for it.
func (d *Driver[E]) Do(f func(E)) {
	done := make(chan struct{})
	d.calls <- func(e E) { f(e); close(done) }
	<-done
}
