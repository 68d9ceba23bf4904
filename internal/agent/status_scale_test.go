package agent

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/gwconfig"
	"github.com/vpngw/vpngw/internal/ike"
	"github.com/vpngw/vpngw/internal/ike/ikev1"
)

// sendHost is an ike.Host that keeps what it sends and drops the rest.
type sendHost struct {
	nopHost
	sent []ike.Packet
}

func (h *sendHost) SendIKE(p ike.Packet) { h.sent = append(h.sent, p) }

// statusWork brings up one tunnel of an agent configured with n
// connections (an in-memory initiator against the agent's engine, the
// agent's loop simulated by publish after every input) and returns how many
// connection entries the status path rebuilt and how much bookkeeping the
// engine did, and the status changes the agent hands remote mode's
// reports for it (TakeChanges).
func statusWork(t *testing.T, n int) (updates, work uint64, ch StatusChanges) {
	t.Helper()
	now := time.Unix(1_700_000_000, 0)
	gw := netip.MustParseAddr("192.0.2.1")
	hub := []netip.Prefix{netip.MustParsePrefix("172.16.0.0/16")}
	hostA := &sendHost{}
	a := &Agent{cfg: &gwconfig.Instance{Config: gwconfig.Config{Name: "gw"}}, host: &host{lastUp: map[string]time.Time{}}}
	a.book.conns = map[string]ConnectionStatus{}
	a.book.trackChanges = true
	a.eng = newEngines(ike.New(ike.Config{}, hostA, nil), ikev1.New(ikev1.Config{}, hostA, nil))
	a.cfg.Peers = make([]gwconfig.Peer, n) // all IKEv2
	var peers []ike.Peer
	var site ike.Peer
	for i := range n {
		addr := netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)})
		ts := []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24)}
		name := fmt.Sprintf("conn%05d", i)
		peers = append(peers, ike.Peer{Name: name, Local: gw, Remote: addr, PSK: []byte("k" + name), Mode: ike.ModeResponderOnly, LocalTS: hub, RemoteTS: ts})
		if i == 7 {
			site = ike.Peer{Name: "hub", Local: addr, Remote: gw, PSK: []byte("k" + name), LocalTS: ts, RemoteTS: hub}
		}
	}
	if err := a.eng.SetPeers(now, a.cfg, peers, nil); err != nil {
		t.Fatal(err)
	}
	a.refresh()
	if ch := a.TakeChanges(); ch.All || len(ch.Conns) != n {
		t.Fatalf("changes after the book was rebuilt: all %v, %d connections, want the %d connections", ch.All, len(ch.Conns), n)
	}
	u0, w0 := a.book.updates, a.eng.v2.Work()

	hostS := &sendHost{}
	s := ike.New(ike.Config{}, hostS, nil)
	if err := s.SetPeers(now, []ike.Peer{site}); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		for _, p := range hostS.sent {
			a.eng.HandlePacket(now, ike.Packet{Data: p.Data, Local: p.Remote, Remote: p.Local})
			a.publish()
		}
		hostS.sent = nil
		for _, p := range hostA.sent {
			s.HandlePacket(now, ike.Packet{Data: p.Data, Local: p.Remote, Remote: p.Local})
		}
		hostA.sent = nil
	}
	if !a.Status().Connected("conn00007") {
		t.Fatalf("conn00007 not connected: %+v", a.Status().Connections[7])
	}
	return a.book.updates - u0, a.eng.v2.Work() - w0, a.TakeChanges()
}

// TestStatusWorkPerEvent checks that the status path does O(1) work per
// event: bringing up one tunnel rebuilds the same number of connection
// entries, and the engine visits the same number of SAs and peers, with
// 10 connections as with 1,000.
func TestStatusWorkPerEvent(t *testing.T) {
	us, ws, chs := statusWork(t, 10)
	ub, wb, chb := statusWork(t, 1000)
	t.Logf("status entries rebuilt: %d / %d, engine work: %d / %d (10 / 1000 connections)", us, ub, ws, wb)
	if us == 0 || ub != us || wb != ws {
		t.Errorf("one tunnel coming up: %d status rebuilds and %d engine visits with 10 connections, %d and %d with 1000: must not depend on the count", us, ws, ub, wb)
	}
	// Remote mode reports the change as the one entry that changed (the
	// Reporter's work is the entries it is given:
	// agentapi.TestReporterUpdateWorkPerChange).
	for _, ch := range []StatusChanges{chs, chb} {
		if ch.All || len(ch.Conns) != 1 || ch.Conns[0].Name != "conn00007" || ch.Conns[0].Status != "Connected" || len(ch.Clients)+len(ch.Removed) != 0 {
			t.Errorf("changes: all %v, %d connections (%v), %d clients, removed %v; want conn00007 Connected alone", ch.All, len(ch.Conns), names(ch.Conns), len(ch.Clients), ch.Removed)
		}
		if ch.Gateway.Name != "gw" || ch.Gateway.Connections != nil {
			t.Errorf("gateway part %q with %d connections", ch.Gateway.Name, len(ch.Gateway.Connections))
		}
	}
}

func names(cs []ConnectionStatus) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}
