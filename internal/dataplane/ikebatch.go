package dataplane

// IKE datagrams to many peers in one system call.
//
// An idle gateway with thousands of tunnels spends its IKE work on liveness
// checks: the clients' checks arrive in bursts (their engines coalesce
// their timers on a one-second grid) and each answer goes to a different
// peer. wireguard-go's conn.Bind.Send takes one endpoint per call, so the
// answers cost one sendmmsg each. SendIKEBatch sends any number of
// datagrams, each with its own destination, in one sendmmsg per socket
// (the IKE port's and the NAT-T port's, per address family) on the
// sockets of the data plane's own binds: the sockets that receive IKE, so
// that the answers leave from the ports the requests came to. The
// sendmmsg is a raw system call (udpWriter, udpio.go) on the bind's
// sockets, which udpConns reads from conn.StdNetBind's fields; where it
// cannot, x/net's WriteBatch on the bind's PacketConns (bindPacketConns;
// TestBindUDPConns and TestBindPacketConns fail if a wireguard-go update
// moves them; with neither, SendIKEBatch falls back to one Send per
// datagram).

import (
	"errors"
	"fmt"
	"net"
	"reflect"
	"sync"
	"sync/atomic"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.zx2c4.com/wireguard/conn"

	"github.com/vpngw/vpngw/internal/esp"
)

// IKEBatchMax caps the messages of one sendmmsg of SendIKEBatch (the
// kernel takes at most UIO_MAXIOV, 1024); a caller that collects
// datagrams sends them when it holds this many.
const IKEBatchMax = 256

// nonESPMarker precedes IKE messages on the NAT-T port (RFC 3948 §2.2).
var nonESPMarker [esp.NonESPMarkerLen]byte

// batchWriter is one socket's batch send: ipv4.PacketConn.WriteBatch or
// ipv6.PacketConn.WriteBatch (their Message types are the same).
type batchWriter func(ms []ipv4.Message, flags int) (int, error)

// ikeSockets are the IKE and NAT-T sockets' batch writers by family, nil
// where the bind has no such socket or its fields could not be read.
type ikeSockets struct {
	ike4, ike6, natt4, natt6 batchWriter

	mu   sync.Mutex // guards the scratch messages
	msgs [4][]ipv4.Message
	// calls counts the sendmmsg system calls (tests).
	calls atomic.Uint64
}

// bindPacketConns returns the batch writers of an opened
// conn.StdNetBind's IPv4 and IPv6 sockets (ipv4PC, ipv6PC), nil for those
// it cannot find.
func bindPacketConns(b conn.Bind) (v4, v6 batchWriter) {
	if pc := bindField[ipv4.PacketConn](b, "ipv4PC"); pc != nil {
		v4 = pc.WriteBatch
	}
	if pc := bindField[ipv6.PacketConn](b, "ipv6PC"); pc != nil {
		v6 = pc.WriteBatch
	}
	return v4, v6
}

// bindField returns the field name, of type *T, of an opened
// conn.StdNetBind: nil when b is not one, or the field is missing, of
// another type or nil (a wireguard-go update moved it).
func bindField[T any](b conn.Bind, name string) *T {
	sb, ok := b.(*conn.StdNetBind)
	if !ok || sb == nil {
		return nil
	}
	f := reflect.ValueOf(sb).Elem().FieldByName(name)
	if !f.IsValid() || f.Type() != reflect.TypeFor[*T]() || f.IsNil() {
		return nil
	}
	return (*T)(f.UnsafePointer())
}

// openIKESockets finds the batch writers of the opened IKE and NAT-T
// binds: udpWriters on their sockets (raw system calls, udpio.go), else
// x/net's WriteBatch on them.
func openIKESockets(ike, natt conn.Bind) *ikeSockets {
	s := &ikeSockets{}
	s.ike4, s.ike6 = bindPacketConns(ike)
	s.natt4, s.natt6 = bindPacketConns(natt)
	raw := func(c *net.UDPConn, fallback batchWriter) batchWriter {
		if c == nil {
			return fallback
		}
		w, err := newUDPWriter(c, IKEBatchMax)
		if err != nil {
			return fallback
		}
		return w.write
	}
	v4, v6 := udpConns(ike)
	s.ike4, s.ike6 = raw(v4, s.ike4), raw(v6, s.ike6)
	v4, v6 = udpConns(natt)
	s.natt4, s.natt6 = raw(v4, s.natt4), raw(v6, s.natt6)
	return s
}

// SendIKEBatch sends IKE messages, each to its own peer, as SendIKE does
// one: from the NAT-T socket behind the non-ESP marker when p.Local's port
// is NATTPort (or p.Remote's is 4500 and p.Local's unset), else from the
// IKE socket. It makes one sendmmsg per socket and address family for up
// to 256 messages. A message the kernel refuses is skipped and the rest
// still sent; the error joins the refusals. Data is not retained.
func (d *Dataplane) SendIKEBatch(ps []IKEPacket) error {
	if d.closed.Load() {
		return ErrClosed
	}
	s := d.ikeSock
	if s == nil {
		return d.sendIKEEach(ps)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.msgs {
		s.msgs[i] = s.msgs[i][:0]
	}
	var errs []error
	var slow []IKEPacket // to a socket without a batch writer
	for _, p := range ps {
		if !p.Remote.IsValid() {
			errs = append(errs, fmt.Errorf("%w: invalid remote %v", ErrInvalid, p.Remote))
			continue
		}
		natt := d.viaNATT(p)
		v6 := p.Remote.Addr().Is6() && !p.Remote.Addr().Is4In6()
		k, w := 0, s.ike4
		switch {
		case !natt && v6:
			k, w = 1, s.ike6
		case natt && !v6:
			k, w = 2, s.natt4
		case natt && v6:
			k, w = 3, s.natt6
		}
		if w == nil {
			slow = append(slow, p)
			continue
		}
		m := ipv4.Message{Addr: net.UDPAddrFromAddrPort(p.Remote)}
		if natt {
			m.Buffers = net.Buffers{nonESPMarker[:], p.Data}
		} else {
			m.Buffers = net.Buffers{p.Data}
		}
		s.msgs[k] = append(s.msgs[k], m)
	}
	for k, w := range []batchWriter{s.ike4, s.ike6, s.natt4, s.natt6} {
		if err := s.write(w, s.msgs[k]); err != nil {
			errs = append(errs, err)
		}
		d.stats.ikeOut.Add(uint64(len(s.msgs[k])))
		clear(s.msgs[k]) // drop the references to the callers' buffers
	}
	if err := d.sendIKEEach(slow); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// write sends ms with as few sendmmsg calls as the kernel allows, skipping
// each message it refuses.
func (s *ikeSockets) write(w batchWriter, ms []ipv4.Message) error {
	var errs []error
	for len(ms) > 0 {
		s.calls.Add(1)
		n, err := w(ms[:min(len(ms), IKEBatchMax)], 0)
		if n < 0 {
			n = 0
		}
		ms = ms[n:]
		if err != nil {
			if len(ms) > 0 {
				errs = append(errs, fmt.Errorf("dataplane: IKE to %v: %w", ms[0].Addr, err))
				ms = ms[1:]
			} else {
				errs = append(errs, fmt.Errorf("dataplane: IKE: %w", err))
			}
		}
	}
	return errors.Join(errs...)
}

// sendIKEEach sends ps one at a time (SendIKE).
func (d *Dataplane) sendIKEEach(ps []IKEPacket) error {
	var errs []error
	for _, p := range ps {
		if err := d.SendIKE(p); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
