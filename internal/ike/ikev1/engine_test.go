package ikev1

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/ike"
	"github.com/vpngw/vpngw/internal/ike/isakmp"
	"github.com/vpngw/vpngw/internal/transform"
)

// mirrored checks that each side's outbound SA is the other's inbound SA
// with the same keys.
func mirrored(t *testing.T, n *testNet) {
	t.Helper()
	if len(n.a.h.children) == 0 || len(n.a.h.children) != len(n.b.h.children) {
		t.Fatalf("children: a %d, b %d", len(n.a.h.children), len(n.b.h.children))
	}
	for in, c := range n.a.h.children {
		o := n.b.h.children[c.OutSPI]
		if o == nil || o.OutSPI != in {
			t.Fatalf("a's SA %08x/%08x has no twin on b", in, c.OutSPI)
		}
		if !bytes.Equal(c.InEncKey, o.OutEncKey) || !bytes.Equal(c.OutEncKey, o.InEncKey) ||
			!bytes.Equal(c.InIntegKey, o.OutIntegKey) || c.Encr != o.Encr || c.Integ != o.Integ {
			t.Fatalf("keys differ for %08x", in)
		}
		if !n.a.h.active[in] || !n.b.h.active[o.InSPI] {
			t.Fatalf("outbound not active: a %v b %v", n.a.h.active[in], n.b.h.active[o.InSPI])
		}
		if _, err := transform.NewCipher(c.Encr.ID, c.Encr.KeyBits, c.Integ, c.OutEncKey, c.OutIntegKey); err != nil {
			t.Fatalf("keys unusable by the data plane: %v", err)
		}
	}
}

func setup(t *testing.T, aMode, bMode ike.Mode, tweak func(a, b *ike.Peer)) *testNet {
	n := newTestNet(t)
	pa := peerCfg(addrA, addrB, "10.1.0.0/16", "10.2.0.0/16", aMode)
	pb := peerCfg(addrB, addrA, "10.2.0.0/16", "10.1.0.0/16", bMode)
	if tweak != nil {
		tweak(&pa, &pb)
	}
	if err := n.a.e.SetPeers(n.now, []ike.Peer{pa}); err != nil {
		t.Fatal(err)
	}
	if err := n.b.e.SetPeers(n.now, []ike.Peer{pb}); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestMainModeQuickModeBothWays(t *testing.T) {
	suites := []struct {
		name     string
		ike, esp string
		policy   bool
	}{
		{"Azure RouteBased defaults", "", "", false},
		{"Azure PolicyBased defaults", "", "", true},
		{"aes128-sha1-modp1024 / 3des-sha1", "aes128-sha1-modp1024", "3des-sha1", false},
		{"aes256-sha256-modp2048 / aes256gcm16 with PFS", "aes256-sha256-modp2048", "aes256gcm16-modp2048", false},
		{"3des-sha1-modp1024 / aes256-sha256", "3des-sha1-modp1024", "aes256-sha256", false},
	}
	for _, s := range suites {
		for _, dir := range []string{"a initiates", "b initiates"} {
			t.Run(s.name+"/"+dir, func(t *testing.T) {
				am, bm := ike.ModeDefault, ike.ModeResponderOnly
				if dir == "b initiates" {
					am, bm = bm, am
				}
				n := setup(t, am, bm, func(a, b *ike.Peer) {
					for _, p := range []*ike.Peer{a, b} {
						p.PolicyBased = s.policy
						if s.ike != "" {
							p.IKEProposals, _ = transform.ParseProposals(s.ike, false)
							p.ESPProposals, _ = transform.ParseProposals(s.esp, true)
						}
					}
				})
				n.run(5 * time.Second)
				if !n.a.e.Established("peer") || !n.b.e.Established("peer") {
					t.Fatalf("not established: a %q b %q", n.a.e.LastError("peer"), n.b.e.LastError("peer"))
				}
				mirrored(t, n)
				for _, c := range n.a.h.children {
					if c.Encap {
						t.Fatal("encapsulation without NAT")
					}
					if s.policy && c.Encr != (transform.Encr{ID: transform.EncrAESCBC, KeyBits: 256}) {
						t.Fatalf("PolicyBased first offer is AES256/SHA256, got %v", c.Encr)
					}
					if strings.Contains(s.esp, "modp2048") && c.PFS != transform.DHMODP2048 {
						t.Fatalf("PFS %v", c.PFS)
					}
					wantLife := transform.AzureV1QuickModeLifetimeRouteBased
					if s.policy {
						wantLife = transform.AzureV1QuickModeLifetimePolicyBased
					}
					if s.ike == "" && n.a.e.peers["peer"].children[0].expireAt.Sub(c.Established) != wantLife {
						t.Fatalf("lifetime %v, want %v", n.a.e.peers["peer"].children[0].expireAt.Sub(c.Established), wantLife)
					}
				}
			})
		}
	}
}

// upForRekey sets up a with one Child SA of an hour's lifetime toward b
// (ResponderOnly) and returns its inbound SPI.
func upForRekey(t *testing.T) (n *testNet, first uint32) {
	n = setup(t, ike.ModeDefault, ike.ModeResponderOnly, func(a, b *ike.Peer) {
		a.ChildLifetime, b.ChildLifetime = time.Hour, time.Hour
	})
	n.run(5 * time.Second)
	mirrored(t, n)
	for in := range n.a.h.children {
		first = in
	}
	return n, first
}

func TestQuickModeRekeyAndDelete(t *testing.T) {
	for _, who := range []string{"initiator rekeys by time", "on request"} {
		t.Run(who, func(t *testing.T) {
			n, first := upForRekey(t)
			if who == "on request" {
				if err := n.a.e.RekeyChild(n.now, first); err != nil {
					t.Fatal(err)
				}
				n.run(time.Second)
				// Both the old and the new SA are installed during the grace period.
				if len(n.a.h.children) != 2 || len(n.b.h.children) != 2 {
					t.Fatalf("during grace: a %d b %d", len(n.a.h.children), len(n.b.h.children))
				}
			} else {
				n.run(55 * time.Minute) // rekey at 90 % of the hour
			}
			n.run(5 * time.Second)
			mirrored(t, n)
			if _, old := n.a.h.children[first]; old || len(n.a.h.children) != 1 {
				t.Fatalf("old SA still installed: %d", len(n.a.h.children))
			}
			if n.a.h.count(ike.EventChildUp) != 2 || n.b.h.count(ike.EventChildUp) != 2 {
				t.Fatal("child-up events")
			}
			// Delete: a closes; b removes everything at once.
			n.a.e.Close(n.now)
			n.run(time.Second)
			if len(n.b.h.children) != 0 || n.b.e.peers["peer"].sa != nil {
				t.Fatalf("b kept %d children", len(n.b.h.children))
			}
			if n.b.h.count(ike.EventIKEDown) != 1 {
				t.Fatal("no ike-down on b")
			}
		})
	}
}

func TestDPD(t *testing.T) {
	n := setup(t, ike.ModeDefault, ike.ModeResponderOnly, func(a, b *ike.Peer) { a.DPDTimeout = 30 * time.Second })
	n.run(5 * time.Second)
	mirrored(t, n)
	// A live peer answers R-U-THERE: still up after minutes.
	n.run(3 * time.Minute)
	if !n.a.e.Established("peer") {
		t.Fatalf("DPD tore down a live peer: %q", n.a.e.LastError("peer"))
	}
	// b vanishes: a detects it and removes its Child SAs.
	n.drop = func(p ike.Packet) bool { return p.Remote.Addr() == addrA }
	n.run(time.Minute)
	if len(n.a.h.children) != 0 {
		t.Fatal("dead peer not detected")
	}
	found := false
	for _, e := range n.a.h.events {
		found = found || strings.Contains(e.Reason, "dead peer")
	}
	if !found {
		t.Fatal("no dead-peer reason")
	}
}

func TestFailureReasons(t *testing.T) {
	t.Run("psk mismatch", func(t *testing.T) {
		n := setup(t, ike.ModeDefault, ike.ModeResponderOnly, func(a, b *ike.Peer) { b.PSK = []byte("other") })
		n.run(5 * time.Second)
		if r := n.b.e.LastError("peer"); !strings.Contains(r, "AUTHENTICATION_FAILED") {
			t.Fatalf("reason %q", r)
		}
	})
	t.Run("no proposal", func(t *testing.T) {
		n := setup(t, ike.ModeDefault, ike.ModeResponderOnly, func(a, b *ike.Peer) {
			a.IKEProposals, _ = transform.ParseProposals("aes128-sha256-modp2048", false)
			b.IKEProposals, _ = transform.ParseProposals("aes256-sha1-modp1024", false)
		})
		n.run(5 * time.Second)
		r := n.b.e.LastError("peer")
		if !strings.Contains(r, "NO_PROPOSAL_CHOSEN") || !strings.Contains(r, "aes128") || !strings.Contains(r, "aes256") {
			t.Fatalf("reason %q", r)
		}
		if r := n.a.e.LastError("peer"); !strings.Contains(r, "NO_PROPOSAL_CHOSEN") || !strings.Contains(r, "we offered [aes128") {
			t.Fatalf("initiator reason %q", n.a.e.LastError("peer"))
		}
	})
	t.Run("selectors", func(t *testing.T) {
		n := setup(t, ike.ModeDefault, ike.ModeResponderOnly, func(a, b *ike.Peer) {
			b.RemoteTS[0] = netip.MustParsePrefix("10.9.0.0/16")
		})
		n.run(5 * time.Second)
		if r := n.b.e.LastError("peer"); !strings.Contains(r, "INVALID_ID_INFORMATION") {
			t.Fatalf("reason %q", r)
		}
		if r := n.a.e.LastError("peer"); !strings.Contains(r, "INVALID_ID_INFORMATION") {
			t.Fatalf("initiator reason %q", r)
		}
	})
}

func TestAggressiveModeRefused(t *testing.T) {
	n := setup(t, ike.ModeResponderOnly, ike.ModeResponderOnly, nil)
	msg, _ := isakmp.Encode(&isakmp.Message{Header: isakmp.Header{ICookie: 1, Exchange: isakmp.ExchAggressive},
		Payloads: []isakmp.Payload{&isakmp.Data{T: isakmp.PayloadNonce, Data: []byte{1}}}})
	n.a.e.HandlePacket(n.now, ike.Packet{Data: msg, Local: netipAP(addrA, 500), Remote: netipAP(addrB, 500)})
	if len(n.a.h.sent) != 0 {
		t.Fatal("answered Aggressive Mode")
	}
	if r := n.a.e.LastError("peer"); r != ErrAggressiveMode.Error() {
		t.Fatalf("reason %q", r)
	}
}

// TestLostMM2IsResent: the responder's MM2 is lost; the initiator's
// retransmitted MM1 (responder cookie still zero) must get it again, so
// Main Mode completes after one retransmission instead of stalling.
func TestLostMM2IsResent(t *testing.T) {
	n := setup(t, ike.ModeDefault, ike.ModeResponderOnly, nil)
	dropped := false
	n.drop = func(p ike.Packet) bool {
		if !dropped && p.Remote.Addr() == addrA {
			dropped = true // b's first datagram: MM2
			return true
		}
		return false
	}
	n.run(3 * time.Second) // the initiator retransmits MM1 after 1 s
	if !dropped {
		t.Fatal("nothing dropped")
	}
	if !n.a.e.Established("peer") || !n.b.e.Established("peer") {
		t.Fatalf("not established 3 s after a lost MM2: a %q, b %q", n.a.e.LastError("peer"), n.b.e.LastError("peer"))
	}
}

// The initiator of a Quick Mode rekey sends on the new SA only after the
// responder has processed HASH(3) (strongSwan installs the SA then, so a
// packet sent on it earlier is dropped); until then the old SA carries the
// traffic, and the new SA's inbound half is ready before HASH(3) leaves.
func TestRekeyInitiatorWaitsForHash3(t *testing.T) {
	for _, who := range []string{"initiator rekeys by time", "on request"} {
		t.Run(who, func(t *testing.T) {
			n, first := upForRekey(t)
			n.check = func() {
				for in, c := range n.a.h.children {
					if c.Replaces == 0 || !n.a.h.active[in] {
						continue
					}
					// b is vpngw: it activates its own outbound on HASH(3).
					if twin := n.b.h.children[c.OutSPI]; twin == nil || !n.b.h.active[twin.InSPI] {
						t.Fatalf("a sends on %08x before b processed HASH(3)", c.OutSPI)
					}
					if _, old := n.a.h.children[first]; old && n.now.Sub(c.Established) < n.a.e.outboundDelay() {
						t.Fatalf("a switched to %08x after %v, before the delay", c.OutSPI, n.now.Sub(c.Established))
					}
				}
			}
			if who == "on request" {
				if err := n.a.e.RekeyChild(n.now, first); err != nil {
					t.Fatal(err)
				}
				n.run(5 * time.Second)
			} else {
				n.run(56 * time.Minute)
			}
			mirrored(t, n)
			if _, old := n.a.h.children[first]; old || len(n.a.h.children) != 1 {
				t.Fatalf("old SA still installed: %d", len(n.a.h.children))
			}
		})
	}
}
