package ike

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/ike/message"
	"github.com/vpngw/vpngw/internal/transform"
)

func TestEstablishDefaults(t *testing.T) {
	n := newTestNet(t, Config{}, Config{})
	pa, pb := basicPeers()
	n.setPeers([]Peer{pa}, []Peer{pb})
	n.run(time.Second)
	n.established(1)
	st := n.a.e.Status()[0]
	if st.State != "established" || len(st.IKE) != 1 || len(st.IKE[0].Children) != 1 {
		t.Fatalf("status: %+v", st)
	}
	c := st.IKE[0].Children[0]
	if c.LocalTS != "10.1.0.0/16" || c.RemoteTS != "10.2.0.0/16" {
		t.Fatalf("selectors %s <-> %s", c.LocalTS, c.RemoteTS)
	}
	// Two vpngw engines with default proposals: the initiator offers
	// Azure's list first (AES256/SHA1/DH2), the responder prefers the
	// suite vpngw uses between its own gateways.
	if st.IKE[0].Suite != "aes256gcm16-prfsha256-ecp256" {
		t.Fatalf("IKE suite %q", st.IKE[0].Suite)
	}
	if c.Suite != "aes256gcm16" {
		t.Fatalf("ESP suite %q", c.Suite)
	}
	if n.a.h.count(EventIKEUp) != 1 || n.b.h.count(EventIKEUp) != 1 {
		t.Fatalf("events A %v B %v", n.a.h.events, n.b.h.events)
	}
}

func TestEstablishSuites(t *testing.T) {
	for _, tc := range []struct{ ike, esp string }{
		{"aes256gcm16-prfsha256-ecp256", "aes256gcm16"},
		{"aes256-sha256-modp2048", "aes256-sha256"},
		{"aes128-sha1-modp1024", "aes128-sha1"},
		{"aes256-sha384-ecp384", "aes256-sha256-modp2048"},
		{"aes128gcm16-prfsha384-curve25519", "aes128gcm16-ecp256"},
		{"3des-sha1-modp1024", "3des-sha1"},
		{"aes192-sha256-modp2048s256", "aes192-sha256-esn"},
		{"chacha20poly1305-prfsha256-curve25519", "chacha20poly1305"},
	} {
		t.Run(tc.ike+"/"+tc.esp, func(t *testing.T) {
			n := newTestNet(t, Config{}, Config{})
			pa, pb := basicPeers()
			for _, p := range []*Peer{&pa, &pb} {
				p.IKEProposals = mustProposals(t, tc.ike, false)
				p.ESPProposals = mustProposals(t, tc.esp, true)
			}
			n.setPeers([]Peer{pa}, []Peer{pb})
			n.run(time.Second)
			n.established(1)
			// A rekey exercises PFS when the ESP proposal has a group.
			c := n.a.e.peers["to-b"].sa.sortedChildren()[0]
			n.a.e.SoftLimit(n.now, c.inSPI)
			n.run(time.Minute)
			n.established(1)
			if len(n.a.h.children) != 1 || len(n.b.h.children) != 1 {
				t.Fatalf("after rekey: A %d B %d Child SAs", len(n.a.h.children), len(n.b.h.children))
			}
		})
	}
}

func TestNoProposalChosen(t *testing.T) {
	n := newTestNet(t, Config{}, Config{})
	pa, pb := basicPeers()
	pa.IKEProposals = mustProposals(t, "aes256-sha256-modp2048", false)
	pb.IKEProposals = mustProposals(t, "aes128-sha1-ecp256", false)
	n.setPeers([]Peer{pa}, []Peer{pb})
	n.run(time.Second)
	if n.a.e.Established("to-b") {
		t.Fatal("established with disjoint proposals")
	}
	r := n.a.h.lastReason(EventFailure)
	if !containsAll(r, "NO_PROPOSAL_CHOSEN", "aes256-sha256", "modp2048") {
		t.Fatalf("initiator reason %q", r)
	}
	r = n.b.h.lastReason(EventFailure)
	if !containsAll(r, "NO_PROPOSAL_CHOSEN", "peer offered", "aes256", "we accept", "aes128") {
		t.Fatalf("responder reason %q", r)
	}
}

func TestChildNoProposalChosenKeepsIKE(t *testing.T) {
	n := newTestNet(t, Config{}, Config{})
	pa, pb := basicPeers()
	pa.ESPProposals = mustProposals(t, "aes256gcm16", true)
	pb.ESPProposals = mustProposals(t, "aes128-sha1", true)
	n.setPeers([]Peer{pa}, []Peer{pb})
	n.run(time.Second)
	if len(n.a.h.children) != 0 {
		t.Fatal("child installed despite mismatch")
	}
	if n.a.e.peers["to-b"].sa == nil || n.a.e.peers["to-b"].sa.state != stEstablished {
		t.Fatal("IKE SA should stay established")
	}
	if r := n.a.h.lastReason(EventFailure); !containsAll(r, "NO_PROPOSAL_CHOSEN", "ESP") {
		t.Fatalf("reason %q", r)
	}
}

func TestAuthenticationFailed(t *testing.T) {
	n := newTestNet(t, Config{}, Config{})
	pa, pb := basicPeers()
	pb.PSK = []byte("another-key")
	n.setPeers([]Peer{pa}, []Peer{pb})
	n.run(time.Second)
	if n.a.e.Established("to-b") || n.b.e.Established("to-a") {
		t.Fatal("established with different keys")
	}
	if r := n.a.h.lastReason(EventFailure); !containsAll(r, "AUTHENTICATION_FAILED") {
		t.Fatalf("initiator reason %q", r)
	}
	if r := n.b.h.lastReason(EventFailure); !containsAll(r, "AUTHENTICATION_FAILED", "192.0.2.1") {
		t.Fatalf("responder reason %q", r)
	}
	if len(n.a.e.sas) != 0 || len(n.b.e.sas) != 0 {
		t.Fatalf("SAs left: A %d B %d", len(n.a.e.sas), len(n.b.e.sas))
	}
	// The initiator retries with backoff; fix the key and it connects.
	pb.PSK = pa.PSK
	n.setPeers([]Peer{pa}, []Peer{pb})
	n.run(40 * time.Second)
	n.established(1)
}

func TestInvalidKEPayloadRetry(t *testing.T) {
	n := newTestNet(t, Config{}, Config{})
	pa, pb := basicPeers()
	pa.IKEProposals = mustProposals(t, "aes256-sha256-ecp256-modp2048", false)
	pb.IKEProposals = mustProposals(t, "aes256-sha256-modp2048", false)
	n.setPeers([]Peer{pa}, []Peer{pb})
	n.run(time.Second)
	n.established(1)
	if s := n.a.e.Status()[0].IKE[0].Suite; s != "aes256-sha256-prfsha256-modp2048" {
		t.Fatalf("suite %q", s)
	}
}

func TestCookies(t *testing.T) {
	n := newTestNet(t, Config{}, Config{CookieThreshold: -1})
	pa, pb := basicPeers()
	sawCookie := false
	n.drop = func(p Packet) bool {
		if h, err := message.ParseHeader(p.Data); err == nil && h.Exchange == message.IKESAInit && h.IsResponse() {
			m, _ := message.Decode(p.Data, nil)
			sawCookie = sawCookie || (m != nil && m.Notify(message.NotifyCookie) != nil)
		}
		return false
	}
	n.setPeers([]Peer{pa}, []Peer{pb})
	n.run(time.Second)
	n.established(1)
	if !sawCookie {
		t.Fatal("responder did not ask for a cookie")
	}
}

func TestRetransmission(t *testing.T) {
	n := newTestNet(t, Config{}, Config{})
	pa, pb := basicPeers()
	dropped := map[message.ExchangeType]int{}
	n.drop = func(p Packet) bool {
		h, _ := message.ParseHeader(p.Data)
		// Lose the first request and the first response of each exchange.
		if dropped[h.Exchange] < 2 {
			dropped[h.Exchange]++
			return true
		}
		return false
	}
	n.setPeers([]Peer{pa}, []Peer{pb})
	n.run(30 * time.Second)
	n.established(1)
	// The responder created one IKE SA despite the retransmitted request.
	if len(n.b.e.sas) != 1 {
		t.Fatalf("responder has %d IKE SAs", len(n.b.e.sas))
	}
}

func TestFragmentation(t *testing.T) {
	n := newTestNet(t, Config{FragmentSize: 200}, Config{FragmentSize: 200})
	pa, pb := basicPeers()
	frags := 0
	n.drop = func(p Packet) bool {
		if _, _, ok := message.PeekFragment(p.Data); ok {
			frags++
		}
		return false
	}
	n.setPeers([]Peer{pa}, []Peer{pb})
	n.run(time.Second)
	n.established(1)
	if frags == 0 {
		t.Fatal("no fragments sent")
	}
}

func TestChildRekeyMakeBeforeBreak(t *testing.T) {
	n := newTestNet(t, Config{}, Config{})
	pa, pb := basicPeers()
	pa.ChildLifetime = 10 * time.Minute
	n.setPeers([]Peer{pa}, []Peer{pb})
	n.run(time.Second)
	n.established(1)
	first := n.a.h.outbound
	firstSPI := func() uint32 {
		for _, v := range first {
			return v
		}
		return 0
	}()
	// Several lifetimes: every rekey must keep traffic flowing (checked on
	// every packet by assertNoLoss) and leave one Child SA per side.
	for i := 0; i < 4; i++ {
		n.run(10 * time.Minute)
		n.established(1)
	}
	if n.a.h.outbound["10.1.0.0/16|10.2.0.0/16"] == firstSPI {
		t.Fatal("never rekeyed")
	}
	if len(n.a.h.children) > 2 || len(n.b.h.children) > 2 {
		t.Fatalf("old SAs linger: A %d B %d", len(n.a.h.children), len(n.b.h.children))
	}
	// The rekey time is random (jitter), so time the last checks from the
	// installed Child SA's own rekey time rather than from the clock: just
	// before it the previous rekey is minutes old, and one grace period
	// (3× for a collision) after it the replaced SA must be gone.
	var next time.Time
	for _, c := range n.a.e.peers["to-b"].sa.sortedChildren() {
		if c.state == chInstalled {
			next = c.rekeyAt
		}
	}
	if next.IsZero() || !next.After(n.now.Add(time.Second)) {
		t.Fatalf("no installed Child SA with a future rekey time (next %v, now %v)", next, n.now)
	}
	n.run(next.Add(-time.Second).Sub(n.now))
	if len(n.a.h.children) != 1 || len(n.b.h.children) != 1 {
		t.Fatalf("before the next rekey: A %d B %d", len(n.a.h.children), len(n.b.h.children))
	}
	before := n.a.h.outbound["10.1.0.0/16|10.2.0.0/16"]
	n.run(time.Second + 3*n.a.e.cfg.RekeyGrace + time.Second)
	if n.a.h.outbound["10.1.0.0/16|10.2.0.0/16"] == before {
		t.Fatal("the next rekey did not happen at its rekey time")
	}
	if len(n.a.h.children) != 1 || len(n.b.h.children) != 1 {
		t.Fatalf("after grace: A %d B %d", len(n.a.h.children), len(n.b.h.children))
	}
}

func TestSimultaneousChildRekey(t *testing.T) {
	n := newTestNet(t, Config{}, Config{})
	pa, pb := basicPeers()
	n.setPeers([]Peer{pa}, []Peer{pb})
	n.run(time.Second)
	n.established(1)
	for round := 0; round < 5; round++ {
		ca := n.a.e.peers["to-b"].sa.sortedChildren()
		cb := n.b.e.peers["to-a"].sa.sortedChildren()
		var a, b *childSA
		for _, c := range ca {
			if c.state == chInstalled {
				a = c
			}
		}
		for _, c := range cb {
			if c.state == chInstalled {
				b = c
			}
		}
		// Both start a rekey before either request is delivered.
		n.a.e.SoftLimit(n.now, a.inSPI)
		n.b.e.SoftLimit(n.now, b.inSPI)
		n.run(time.Minute)
		n.established(1)
		if len(n.a.h.children) != 1 || len(n.b.h.children) != 1 {
			t.Fatalf("round %d: A %d B %d Child SAs, want 1 each", round, len(n.a.h.children), len(n.b.h.children))
		}
	}
}

func TestIKERekey(t *testing.T) {
	n := newTestNet(t, Config{}, Config{})
	pa, pb := basicPeers()
	pa.IKELifetime = 20 * time.Minute
	pb.IKELifetime = 20 * time.Minute
	n.setPeers([]Peer{pa}, []Peer{pb})
	n.run(time.Second)
	n.established(1)
	spi := n.a.e.peers["to-b"].sa.spiI
	n.run(time.Hour)
	n.established(1)
	if n.a.e.peers["to-b"].sa.spiI == spi && n.a.e.peers["to-b"].sa.spiR == n.b.e.peers["to-a"].sa.spiR {
		t.Fatal("IKE SA not rekeyed")
	}
	if ikeSAs(n.a) != 1 || ikeSAs(n.b) != 1 {
		t.Fatalf("IKE SAs: A %d B %d", ikeSAs(n.a), ikeSAs(n.b))
	}
	// A Child SA rekey on the new IKE SA still works.
	c := n.b.e.peers["to-a"].sa.sortedChildren()[0]
	n.b.e.SoftLimit(n.now, c.inSPI)
	n.run(time.Minute)
	n.established(1)
}

func TestSimultaneousIKERekey(t *testing.T) {
	n := newTestNet(t, Config{}, Config{})
	pa, pb := basicPeers()
	n.setPeers([]Peer{pa}, []Peer{pb})
	n.run(time.Second)
	n.established(1)
	for round := 0; round < 4; round++ {
		n.a.e.peers["to-b"].sa.startIKERekey(n.now)
		n.b.e.peers["to-a"].sa.startIKERekey(n.now)
		n.run(time.Minute)
		n.established(1)
		if ikeSAs(n.a) != 1 || ikeSAs(n.b) != 1 {
			t.Fatalf("round %d: IKE SAs A %d B %d", round, ikeSAs(n.a), ikeSAs(n.b))
		}
		if n.a.e.peers["to-b"].sa.spiI != n.b.e.peers["to-a"].sa.spiI {
			t.Fatalf("round %d: sides use different IKE SAs", round)
		}
	}
}

func TestDeadPeerDetection(t *testing.T) {
	n := newTestNet(t, Config{}, Config{})
	pa, pb := basicPeers()
	pa.DPDTimeout = 30 * time.Second
	n.setPeers([]Peer{pa}, []Peer{pb})
	n.run(time.Second)
	n.established(1)
	// B goes silent.
	n.checkTraffic = false
	n.drop = func(p Packet) bool { return p.Local.Addr() == addrB }
	n.run(28 * time.Second)
	if n.a.h.count(EventIKEDown) != 0 {
		t.Fatal("declared dead before the DPD timeout")
	}
	n.run(4 * time.Second)
	if n.a.h.count(EventIKEDown) != 1 {
		t.Fatalf("not declared dead after the DPD timeout: %v", n.a.h.events)
	}
	if r := n.a.h.lastReason(EventIKEDown); !containsAll(r, "peer dead", "DPD") {
		t.Fatalf("reason %q", r)
	}
	if len(n.a.h.children) != 0 {
		t.Fatal("Child SAs left after DPD")
	}
	// The peer comes back: the tunnel returns.
	n.drop = nil
	n.checkTraffic = true
	n.run(time.Minute)
	n.established(1)
}

func TestDPDQuietWithTraffic(t *testing.T) {
	n := newTestNet(t, Config{}, Config{})
	pa, pb := basicPeers()
	n.setPeers([]Peer{pa}, []Peer{pb})
	n.run(time.Second)
	informational := 0
	n.drop = func(p Packet) bool {
		if h, _ := message.ParseHeader(p.Data); h.Exchange == message.Informational {
			informational++
		}
		return false
	}
	for i := 0; i < 60; i++ {
		n.a.e.PeerAlive("to-b", n.now)
		n.b.e.PeerAlive("to-a", n.now)
		n.run(5 * time.Second)
	}
	if informational != 0 {
		t.Fatalf("%d liveness checks despite traffic", informational)
	}
}

func TestCloseDeletesOnPeer(t *testing.T) {
	n := newTestNet(t, Config{}, Config{})
	pa, pb := basicPeers()
	n.setPeers([]Peer{pa}, []Peer{pb})
	n.run(time.Second)
	n.established(1)
	n.checkTraffic = false
	n.a.e.Close(n.now)
	n.deliverAll()
	if n.b.h.count(EventIKEDown) != 1 || len(n.b.h.children) != 0 {
		t.Fatalf("peer still has SAs: %v, %d children", n.b.h.events, len(n.b.h.children))
	}
	if len(n.a.h.children) != 0 {
		t.Fatal("local Child SAs left")
	}
}

func TestPolicyBasedPairs(t *testing.T) {
	n := newTestNet(t, Config{}, Config{})
	pa, pb := basicPeers()
	pa.PolicyBased = true
	pa.LocalTS = []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("10.3.0.0/16")}
	pa.RemoteTS = []netip.Prefix{netip.MustParsePrefix("10.2.0.0/16"), netip.MustParsePrefix("10.4.0.0/16")}
	pb.LocalTS, pb.RemoteTS = pa.RemoteTS, pa.LocalTS
	n.setPeers([]Peer{pa}, []Peer{pb})
	n.run(5 * time.Second)
	n.established(4)
	for _, k := range []string{"10.1.0.0/16|10.2.0.0/16", "10.1.0.0/16|10.4.0.0/16", "10.3.0.0/16|10.2.0.0/16", "10.3.0.0/16|10.4.0.0/16"} {
		if _, ok := n.a.h.outbound[k]; !ok {
			t.Fatalf("no Child SA for %s: %v", k, keys(n.a.h.outbound))
		}
	}
}

func TestResponderNarrowsRouteBased(t *testing.T) {
	n := newTestNet(t, Config{}, Config{})
	pa, pb := basicPeers()
	// B is route-based (0.0.0.0/0 both ways): it accepts what A proposes.
	pb.LocalTS, pb.RemoteTS = nil, nil
	n.setPeers([]Peer{pa}, []Peer{pb})
	n.run(time.Second)
	n.established(1)
	if _, ok := n.b.h.outbound["10.2.0.0/16|10.1.0.0/16"]; !ok {
		t.Fatalf("B selectors %v", keys(n.b.h.outbound))
	}
}

func TestTSUnacceptable(t *testing.T) {
	n := newTestNet(t, Config{}, Config{})
	pa, pb := basicPeers()
	pb.LocalTS = []netip.Prefix{netip.MustParsePrefix("10.9.0.0/16")}
	n.setPeers([]Peer{pa}, []Peer{pb})
	n.run(time.Second)
	if len(n.a.h.children) != 0 {
		t.Fatal("child installed")
	}
	if r := n.b.h.lastReason(EventFailure); !containsAll(r, "TS_UNACCEPTABLE", "10.2.0.0/16", "10.9.0.0/16") {
		t.Fatalf("responder reason %q", r)
	}
	if r := n.a.h.lastReason(EventFailure); !containsAll(r, "TS_UNACCEPTABLE") {
		t.Fatalf("initiator reason %q", r)
	}
}

func TestSimultaneousInitiation(t *testing.T) {
	n := newTestNet(t, Config{}, Config{})
	pa, pb := basicPeers()
	pb.Mode = ModeDefault
	n.setPeers([]Peer{pa}, []Peer{pb})
	n.run(10 * time.Second)
	n.established(1)
	n.run(time.Minute)
	if ikeSAs(n.a) != 1 || ikeSAs(n.b) != 1 {
		t.Fatalf("IKE SAs: A %d B %d", ikeSAs(n.a), ikeSAs(n.b))
	}
	n.established(1)
	if len(n.a.h.children) != 1 || len(n.b.h.children) != 1 {
		t.Fatalf("Child SAs: A %d B %d", len(n.a.h.children), len(n.b.h.children))
	}
}

// Simultaneous initiation where one side's first IKE_SA_INIT is lost: the
// SA that loses the tie-break may be the one whose Child SA the data plane
// sends on; removing it must hand the traffic back to the surviving SA's
// Child SA (seen with two agents).
func TestSimultaneousInitiationLostFirstPacket(t *testing.T) {
	for _, lose := range []string{"A", "B"} {
		t.Run("lose-"+lose, func(t *testing.T) {
			n := newTestNet(t, Config{}, Config{})
			pa, pb := basicPeers()
			pb.Mode = ModeDefault
			from := addrA
			if lose == "B" {
				from = addrB
			}
			dropped := false
			n.drop = func(p Packet) bool {
				h, _ := message.ParseHeader(p.Data)
				if !dropped && p.Local.Addr() == from && h.Exchange == message.IKESAInit && !h.IsResponse() {
					dropped = true
					return true
				}
				return false
			}
			n.setPeers([]Peer{pa}, []Peer{pb})
			n.run(10 * time.Second)
			n.established(1)
			if ikeSAs(n.a) != 1 || ikeSAs(n.b) != 1 {
				t.Fatalf("IKE SAs: A %d B %d", ikeSAs(n.a), ikeSAs(n.b))
			}
		})
	}
}

func TestModes(t *testing.T) {
	// InitiatorOnly on B ignores A's IKE_SA_INIT; A as ResponderOnly never
	// starts: nothing happens.
	n := newTestNet(t, Config{}, Config{})
	pa, pb := basicPeers()
	pa.Mode = ModeResponderOnly
	pb.Mode = ModeResponderOnly
	n.setPeers([]Peer{pa}, []Peer{pb})
	n.run(time.Minute)
	if n.delivered != 0 {
		t.Fatalf("%d packets with both ResponderOnly", n.delivered)
	}
	pb.Mode = ModeInitiatorOnly
	n.setPeers([]Peer{pa}, []Peer{pb})
	n.run(10 * time.Second)
	n.established(1)
	if n.b.e.peers["to-a"].sa.initiator != true {
		t.Fatal("B should be the initiator")
	}
}

func TestReloadKeepsUnchangedPeers(t *testing.T) {
	n := newTestNet(t, Config{}, Config{})
	pa, pb := basicPeers()
	pa2 := pa
	pa2.Name = "to-b2"
	pa2.LocalTS = []netip.Prefix{netip.MustParsePrefix("10.5.0.0/16")}
	n.setPeers([]Peer{pa}, []Peer{pb})
	n.run(time.Second)
	n.established(1)
	spi := n.a.e.peers["to-b"].sa.spiI
	// Adding a peer leaves the first untouched.
	if err := n.a.e.SetPeers(n.now, []Peer{pa, pa2}); err != nil {
		t.Fatal(err)
	}
	n.run(time.Second)
	if n.a.e.peers["to-b"].sa == nil || n.a.e.peers["to-b"].sa.spiI != spi {
		t.Fatal("unchanged peer disturbed")
	}
	// Changing the PSK renegotiates (and fails against B).
	pa.PSK = []byte("changed")
	if err := n.a.e.SetPeers(n.now, []Peer{pa}); err != nil {
		t.Fatal(err)
	}
	n.checkTraffic = false
	n.run(time.Second)
	if n.a.e.Established("to-b") {
		t.Fatal("still established with a changed key")
	}
	if n.b.h.count(EventIKEDown) == 0 {
		t.Fatal("old SA not deleted on the peer")
	}
	if err := n.a.e.SetPeers(n.now, []Peer{{Name: "x"}}); err == nil {
		t.Fatal("invalid config accepted")
	}
}

func TestProposalCompatAzureDefaults(t *testing.T) {
	// A peer configured with only Azure's default phase 1/2 proposals (as
	// a device configured from Azure's docs) connects to vpngw's defaults.
	n := newTestNet(t, Config{}, Config{})
	pa, pb := basicPeers()
	pa.IKEProposals = transform.AzureDefaultIKEProposals()
	pa.ESPProposals = transform.AzureDefaultESPInitiator()
	n.setPeers([]Peer{pa}, []Peer{pb})
	n.run(time.Second)
	n.established(1)
}

func TestNATDetectionWithoutNAT(t *testing.T) {
	n := newTestNet(t, Config{}, Config{})
	pa, pb := basicPeers()
	n.setPeers([]Peer{pa}, []Peer{pb})
	n.run(time.Second)
	n.established(1)
	for _, s := range []*side{n.a, n.b} {
		st := s.e.Status()[0].IKE[0]
		if st.NATLocal || st.NATRemote || st.Encap {
			t.Fatalf("%s detects a NAT where there is none: %+v", s.name, st)
		}
	}
	// ForceEncap on either side makes both encapsulate.
	pa.ForceEncap = true
	n2 := newTestNet(t, Config{}, Config{})
	n2.setPeers([]Peer{pa}, []Peer{pb})
	n2.run(time.Second)
	for _, s := range []*side{n2.a, n2.b} {
		if st := s.e.Status()[0].IKE[0]; !st.Encap {
			t.Fatalf("%s: ForceEncap not honoured: %+v", s.name, st)
		}
	}
}

// TestInitiateWhileDeleting: an operator's Initiate that arrives while the
// peer's IKE SA is still being deleted (Terminate sent the Delete, the
// answer has not come back) is not lost: a new IKE SA starts once the old
// one is gone, even in ResponderOnly mode.
func TestInitiateWhileDeleting(t *testing.T) {
	n := newTestNet(t, Config{}, Config{})
	pa, pb := basicPeers()
	pa.Mode = ModeResponderOnly
	n.setPeers([]Peer{pa}, []Peer{pb})
	if err := n.a.e.Initiate(n.now, "to-b"); err != nil {
		t.Fatal(err)
	}
	n.run(time.Second)
	n.established(1)
	old := n.a.e.peers["to-b"].sa.spiI
	if err := n.a.e.Terminate(n.now, "to-b"); err != nil {
		t.Fatal(err)
	}
	// The Delete is in flight: Initiate now, before it is answered.
	if err := n.a.e.Initiate(n.now, "to-b"); err != nil {
		t.Fatal(err)
	}
	n.run(time.Second)
	n.established(1)
	if sa := n.a.e.peers["to-b"].sa; sa == nil || sa.spiI == old {
		t.Fatal("Initiate during the Delete was lost")
	}
}

// An OnDemand peer is negotiated only on Initiate: not at SetPeers, not
// again after Terminate or the peer's Delete.
func TestOnDemandPeer(t *testing.T) {
	n := newTestNet(t, Config{}, Config{})
	pa, pb := basicPeers()
	pa.OnDemand = true
	n.setPeers([]Peer{pa}, []Peer{pb})
	n.run(time.Minute)
	if ikeSAs(n.a) != 0 || n.delivered != 0 {
		t.Fatalf("initiated on its own: %d IKE SAs, %d datagrams", ikeSAs(n.a), n.delivered)
	}
	for _, teardown := range []*side{n.a, n.b} {
		if err := n.a.e.Initiate(n.now, "to-b"); err != nil {
			t.Fatal(err)
		}
		n.run(time.Second)
		n.established(1)
		name := "to-b"
		if teardown == n.b {
			name = "to-a"
		}
		if err := teardown.e.Terminate(n.now, name); err != nil {
			t.Fatal(err)
		}
		n.run(time.Second)
		before := n.delivered
		n.run(10 * time.Minute)
		if ikeSAs(n.a) != 0 || n.delivered != before {
			t.Fatalf("after Terminate by %s: %d IKE SAs, %d datagrams", teardown.name, ikeSAs(n.a), n.delivered-before)
		}
	}
}
