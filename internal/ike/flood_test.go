package ike

import (
	"context"
	"encoding/binary"
	"log/slog"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/ike/message"
)

// countingHandler counts log records at every level, by message.
type countingHandler struct {
	mu      sync.Mutex
	records int
	msgs    map[string]int
}

func (h *countingHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelDebug }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records++
	if h.msgs == nil {
		h.msgs = map[string]int{}
	}
	h.msgs[r.Message]++
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }

// initRequest is a well-formed IKE_SA_INIT request that B's defaults
// accept without an INVALID_KE_PAYLOAD round (as a flood would send it):
// the first datagram of an initiator configured like A.
func initRequest(t *testing.T) []byte {
	t.Helper()
	pa, _ := basicPeers()
	pa.IKEProposals = mustProposals(t, "aes256gcm16-prfsha256-ecp256", false)
	h := newTestHost("C")
	e := New(Config{}, h, nil)
	if err := e.SetPeers(time.Unix(1_700_000_000, 0), []Peer{pa}); err != nil {
		t.Fatal(err)
	}
	if len(h.sent) != 1 {
		t.Fatalf("initiator sent %d datagrams", len(h.sent))
	}
	return h.sent[0].Data
}

// spoofed returns the i-th flood datagram: req with a fresh initiator SPI,
// from one of 65536 addresses in 198.18.0.0/16 (none configured) or, with
// from set, from that address.
func spoofed(req []byte, i int, from netip.Addr) Packet {
	d := append([]byte(nil), req...)
	binary.BigEndian.PutUint64(d[0:], uint64(i+1)<<32|0xf100d)
	if !from.IsValid() {
		from = netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})
	}
	return Packet{Data: d, Local: netip.AddrPortFrom(addrB, 500), Remote: netip.AddrPortFrom(from, 500)}
}

// responder is B alone with peer pb, logging to a counting handler.
func responder(t *testing.T, pb Peer) (*Engine, *testHost, *countingHandler, time.Time) {
	t.Helper()
	log := &countingHandler{}
	h := newTestHost("B")
	e := New(Config{}, h, slog.New(log))
	now := time.Unix(1_700_000_000, 0)
	if err := e.SetPeers(now, []Peer{pb}); err != nil {
		t.Fatal(err)
	}
	return e, h, log, now
}

// A flood of IKE_SA_INIT from addresses no peer has is neither answered
// nor logged per datagram; it is counted.
func TestInitFloodFromUnknownAddresses(t *testing.T) {
	_, pb := basicPeers()
	e, h, log, now := responder(t, pb)
	before := log.records
	req := initRequest(t)
	const n = 20000
	for i := range n {
		// 20,000 datagrams in 2 s.
		e.HandlePacket(now.Add(time.Duration(i)*100*time.Microsecond), spoofed(req, i, netip.Addr{}))
	}
	// Plus garbage and messages for SAs we do not have.
	for i := range 1000 {
		p := spoofed(req, i, netip.Addr{})
		e.HandlePacket(now.Add(2*time.Second), Packet{Data: p.Data[:10], Local: p.Local, Remote: p.Remote})
		binary.BigEndian.PutUint64(p.Data[8:], 42) // a responder SPI: not an IKE_SA_INIT request
		p.Data[18] = byte(message.Informational)
		e.HandlePacket(now.Add(2*time.Second), p)
	}
	if len(h.sent) != 0 {
		t.Fatalf("answered %d spoofed datagrams", len(h.sent))
	}
	if got := e.Drops().Load(DropUnknownPeer); got != n {
		t.Errorf("unknown_peer %d, want %d", got, n)
	}
	if got := e.Drops().Load(DropMalformed); got != 1000 {
		t.Errorf("malformed %d, want 1000", got)
	}
	if got := e.Drops().Load(DropUnknownSA); got != 1000 {
		t.Errorf("unknown_sa %d, want 1000", got)
	}
	// One line per reason per 10 s: the first of each, and one more
	// unknown_peer line 10 s later saying how many were not logged.
	if got := log.records - before; got > 3 {
		t.Fatalf("%d log lines for %d datagrams: %v", got, n+2000, log.msgs)
	}
	e.HandlePacket(now.Add(11*time.Second), spoofed(req, n, netip.Addr{}))
	if got := log.records - before; got > 4 {
		t.Fatalf("%d log lines: %v", got, log.msgs)
	}
	if e.halfOpen != 0 || len(e.sas) != 0 {
		t.Fatalf("flood left state: %d half open, %d SAs", e.halfOpen, len(e.sas))
	}
}

// A configured peer whose proposals do not match is answered and logged,
// within limits: a flood spoofing its address gets a few replies per
// second and one log line (and failure event) per 10 s.
func TestNoProposalFloodRateLimited(t *testing.T) {
	_, pb := basicPeers()
	pb.IKEProposals = mustProposals(t, "aes128-sha1-ecp256", false)
	e, h, log, now := responder(t, pb)
	before := log.records
	req := initRequest(t)
	for i := range 10000 { // 10,000 in 1 s
		e.HandlePacket(now.Add(time.Duration(i)*100*time.Microsecond), spoofed(req, i, addrA))
	}
	if got := len(h.sent); got < 1 || got > replyBurst+replyRate+1 {
		t.Fatalf("%d NO_PROPOSAL_CHOSEN replies in 1 s", got)
	}
	if got := e.Drops().Load(DropNoProposal); got != 10000 {
		t.Errorf("no_proposal %d", got)
	}
	if got := log.records - before; got != 1 {
		t.Errorf("%d log lines: %v", got, log.msgs)
	}
	if got := h.count(EventFailure); got != 1 {
		t.Errorf("%d failure events", got)
	}
	st, _ := e.PeerStatus("to-a")
	if !containsAll(st.LastError, "NO_PROPOSAL_CHOSEN", "aes128") {
		t.Errorf("last error %q", st.LastError)
	}
}

// Cookies keep a configured peer connecting while a flood from its
// address (or from loose peers' addresses) fills the half-open SAs.
func TestCookiesProtectConfiguredPeerUnderFlood(t *testing.T) {
	n := newTestNet(t, Config{}, Config{})
	pa, pb := basicPeers()
	n.setPeers(nil, []Peer{pb})
	req := initRequest(t)
	for i := range 2000 {
		n.b.e.HandlePacket(n.now, spoofed(req, i, addrA))
	}
	n.b.h.sent = nil // replies to the spoofed datagrams go nowhere
	if got := n.b.e.halfOpen; got != 64 {
		t.Fatalf("%d half-open SAs, want the cookie threshold", got)
	}
	if got := n.b.e.Drops().Load(DropCookie); got != 2000-64 {
		t.Fatalf("cookie_required %d", got)
	}
	n.setPeers([]Peer{pa}, []Peer{pb})
	n.run(time.Second)
	n.established(1)
}
