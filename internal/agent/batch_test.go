package agent

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/dataplane"
	"github.com/vpngw/vpngw/internal/gwconfig"
	"github.com/vpngw/vpngw/internal/ike"
	"github.com/vpngw/vpngw/internal/ike/ikev1"
)

// loopHost is the engines' host in TestLivenessAnswersBatched: the agent's
// host for sending (its batching is what is tested), nothing else.
type loopHost struct {
	nopHost
	h *host
}

func (l loopHost) SendIKE(p ike.Packet) { l.h.SendIKE(p) }

// livenessRig is n tunnels between an in-memory initiator (s, whose
// datagrams collect in client.sent) and an agent's engine, whose host
// records every data plane send (batches); no data plane, no loop
// goroutine: the tests call the loop's steps.
type livenessRig struct {
	t       *testing.T
	now     time.Time
	a       *Agent
	s       *ike.Engine
	client  *sendHost
	sites   []ike.Peer
	batches [][]dataplane.IKEPacket
}

func newLivenessRig(t *testing.T, n int) *livenessRig {
	r := &livenessRig{t: t, now: time.Now(), client: &sendHost{}}
	gw := netip.MustParseAddr("192.0.2.1")
	hub := []netip.Prefix{netip.MustParsePrefix("172.16.0.0/16")}
	a := &Agent{cfg: &gwconfig.Instance{Config: gwconfig.Config{Name: "gw"}}, ikeIn: make(chan ike.Packet, 2*ikeDrainMax), lazy: newLazyQueue()}
	a.host = &host{a: a, lastUp: map[string]time.Time{}, sendBatch: func(ps []dataplane.IKEPacket) error {
		r.batches = append(r.batches, append([]dataplane.IKEPacket(nil), ps...))
		return nil
	}}
	a.eng = newEngines(ike.New(ike.Config{}, loopHost{h: a.host}, nil), ikev1.New(ikev1.Config{}, loopHost{h: a.host}, nil))
	a.cfg.Peers = make([]gwconfig.Peer, n)
	var peers []ike.Peer
	for i := range n {
		addr := netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)})
		ts := []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24)}
		name := fmt.Sprintf("conn%05d", i)
		peers = append(peers, ike.Peer{Name: name, Local: gw, Remote: addr, PSK: []byte("k" + name), Mode: ike.ModeResponderOnly, LocalTS: hub, RemoteTS: ts})
		r.sites = append(r.sites, ike.Peer{Name: name, Local: addr, Remote: gw, PSK: []byte("k" + name), LocalTS: ts, RemoteTS: hub})
	}
	if err := a.eng.SetPeers(r.now, a.cfg, peers, nil); err != nil {
		t.Fatal(err)
	}
	r.a, r.s = a, ike.New(ike.Config{}, r.client, nil)
	if err := r.s.SetPeers(r.now, r.sites); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		r.exchange()
	}
	r.established("")
	return r
}

// exchange hands the client's datagrams to the loop as one burst
// (handleIKE), delivers the answers and returns how many data plane sends
// they took.
func (r *livenessRig) exchange() int {
	r.batches = nil
	for _, p := range r.client.sent {
		r.a.ikeIn <- ike.Packet{Data: p.Data, Local: p.Remote, Remote: p.Local}
	}
	r.client.sent = nil
	for len(r.a.ikeIn) > 0 {
		r.a.handleIKE(<-r.a.ikeIn)
	}
	return r.deliver()
}

// deliver hands what the agent sent to the initiator and returns the
// number of data plane sends.
func (r *livenessRig) deliver() int {
	for _, b := range r.batches {
		for _, p := range b {
			r.s.HandlePacket(r.now, ike.Packet{Data: p.Data, Local: p.Remote, Remote: p.Local})
		}
	}
	return len(r.batches)
}

// answers counts the datagrams of the recorded sends.
func (r *livenessRig) answers() int {
	n := 0
	for _, b := range r.batches {
		n += len(b)
	}
	return n
}

// checksDue lets every tunnel's liveness check fall due at once.
func (r *livenessRig) checksDue() {
	r.now = r.now.Add(31 * time.Second)
	r.s.Tick(r.now)
	if len(r.client.sent) != len(r.sites) {
		r.t.Fatalf("the initiator sent %d liveness checks after 31 s, want %d", len(r.client.sent), len(r.sites))
	}
}

// established checks that every tunnel is up on the initiator (why: what
// the failure message adds).
func (r *livenessRig) established(why string) {
	for _, sp := range r.sites {
		if st, _ := r.s.PeerStatus(sp.Name); st.State != "established" {
			r.t.Fatalf("%s %s%s, want established", sp.Name, st.State, why)
		}
	}
}

// answered checks that no check is outstanding: none is retransmitted
// and no tunnel is declared dead at the DPD timeout; and that the host
// holds nothing.
func (r *livenessRig) answered() {
	r.now = r.now.Add(20 * time.Second)
	r.s.Tick(r.now)
	r.established(" though its liveness check was answered")
	if r.a.host.batching || len(r.a.host.out) != 0 {
		r.t.Errorf("host still batching (%v) or holding %d datagrams after the burst", r.a.host.batching, len(r.a.host.out))
	}
}

// TestLivenessAnswersBatched brings up n tunnels between an in-memory
// initiator and an agent's engine, through the agent loop's IKE path
// (handleIKE), then lets the initiator's liveness checks of all n fall due
// in one timer tick and hands them to the loop as one burst: the answers
// must leave in one batch, one data plane send for all n, and answer every
// check.
func TestLivenessAnswersBatched(t *testing.T) {
	for _, n := range []int{1, 100, dataplane.IKEBatchMax + 44} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			r := newLivenessRig(t, n)
			r.checksDue()
			want := (n + dataplane.IKEBatchMax - 1) / dataplane.IKEBatchMax
			if got := r.exchange(); got != want {
				t.Errorf("%d liveness answers took %d data plane sends, want %d", n, got, want)
			}
			if got := r.answers(); got != n {
				t.Errorf("%d answers to %d liveness checks", got, n)
			}
			r.answered()
		})
	}
}
