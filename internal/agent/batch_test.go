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

// TestLivenessAnswersBatched brings up n tunnels between an in-memory
// initiator and an agent's engine, through the agent loop's IKE path
// (handleIKE), then lets the initiator's liveness checks of all n fall due
// in one timer tick and hands them to the loop as one burst: the answers
// must leave in one batch, one data plane send for all n, and answer every
// check.
func TestLivenessAnswersBatched(t *testing.T) {
	for _, n := range []int{1, 100, dataplane.IKEBatchMax + 44} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			now := time.Now()
			gw := netip.MustParseAddr("192.0.2.1")
			hub := []netip.Prefix{netip.MustParsePrefix("172.16.0.0/16")}
			a := &Agent{cfg: &gwconfig.Instance{Config: gwconfig.Config{Name: "gw"}}, ikeIn: make(chan ike.Packet, 2*ikeDrainMax)}
			var batches [][]dataplane.IKEPacket
			a.host = &host{a: a, lastUp: map[string]time.Time{}, sendBatch: func(ps []dataplane.IKEPacket) error {
				batches = append(batches, append([]dataplane.IKEPacket(nil), ps...))
				return nil
			}}
			a.eng = newEngines(ike.New(ike.Config{}, loopHost{h: a.host}, nil), ikev1.New(ikev1.Config{}, loopHost{h: a.host}, nil))
			a.cfg.Peers = make([]gwconfig.Peer, n)
			var peers, sites []ike.Peer
			for i := range n {
				addr := netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)})
				ts := []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24)}
				name := fmt.Sprintf("conn%05d", i)
				peers = append(peers, ike.Peer{Name: name, Local: gw, Remote: addr, PSK: []byte("k" + name), Mode: ike.ModeResponderOnly, LocalTS: hub, RemoteTS: ts})
				sites = append(sites, ike.Peer{Name: name, Local: addr, Remote: gw, PSK: []byte("k" + name), LocalTS: ts, RemoteTS: hub})
			}
			if err := a.eng.SetPeers(now, a.cfg, peers, nil); err != nil {
				t.Fatal(err)
			}
			client := &sendHost{}
			s := ike.New(ike.Config{}, client, nil)
			if err := s.SetPeers(now, sites); err != nil {
				t.Fatal(err)
			}
			// exchange hands the client's datagrams to the loop as one
			// burst and returns how many batches its answers took.
			exchange := func() int {
				batches = nil
				for _, p := range client.sent {
					a.ikeIn <- ike.Packet{Data: p.Data, Local: p.Remote, Remote: p.Local}
				}
				client.sent = nil
				for len(a.ikeIn) > 0 {
					a.handleIKE(<-a.ikeIn)
				}
				for _, b := range batches {
					for _, p := range b {
						s.HandlePacket(now, ike.Packet{Data: p.Data, Local: p.Remote, Remote: p.Local})
					}
				}
				return len(batches)
			}
			for range 4 {
				exchange()
			}
			for _, sp := range sites {
				if st, _ := s.PeerStatus(sp.Name); st.State != "established" {
					t.Fatalf("%s %s, want established", sp.Name, st.State)
				}
			}

			// Every tunnel's liveness check falls due at once.
			now = now.Add(31 * time.Second)
			s.Tick(now)
			if len(client.sent) != n {
				t.Fatalf("the initiator sent %d liveness checks after 31 s, want %d", len(client.sent), n)
			}
			want := (n + dataplane.IKEBatchMax - 1) / dataplane.IKEBatchMax
			if got := exchange(); got != want {
				t.Errorf("%d liveness answers took %d data plane sends, want %d", n, got, want)
			}
			answers := 0
			for _, b := range batches {
				answers += len(b)
			}
			if answers != n {
				t.Errorf("%d answers to %d liveness checks", answers, n)
			}
			// Answered: no check is outstanding, so none is retransmitted
			// and no tunnel is declared dead at the DPD timeout.
			now = now.Add(20 * time.Second)
			s.Tick(now)
			for _, sp := range sites {
				if st, _ := s.PeerStatus(sp.Name); st.State != "established" {
					t.Fatalf("%s %s though its liveness check was answered", sp.Name, st.State)
				}
			}
			if a.host.batching || len(a.host.out) != 0 {
				t.Errorf("host still batching (%v) or holding %d datagrams after the burst", a.host.batching, len(a.host.out))
			}
		})
	}
}
