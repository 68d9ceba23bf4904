package ikev1_test

// IKEv1 interoperability with strongSwan 5.9.8 (kernel-libipsec, so ESP is
// UDP-encapsulated and NAT-T is negotiated): the Engine runs over real UDP
// sockets in one namespace, charon in another. The driver below owns the
// sockets; the engine stays pure. The driver is iketest's, shared with ike's interop tests.

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/ike"
	"github.com/vpngw/vpngw/internal/ike/ikev1"
	"github.com/vpngw/vpngw/internal/transform"
	"github.com/vpngw/vpngw/internal/tstest/iketest"
	"github.com/vpngw/vpngw/internal/tstest/nstest"
	"github.com/vpngw/vpngw/internal/tstest/swantest"
)

var ipA = netip.MustParseAddr("192.0.2.1")

// lab is an IKEv1 Engine in one namespace (driven over real UDP sockets by
// iketest) and charon in another.
type lab struct {
	t    *testing.T
	a, b *nstest.NS
	drv  *iketest.Driver[*ikev1.Engine]
	swan *swantest.Daemon
	// log holds the engine's log, printed when a test fails.
	log *iketest.LogBuffer
}

func newLab(t *testing.T) *lab {
	swantest.Require(t)
	l := &lab{t: t}
	l.a, l.b = nstest.New(t, "vv1-a"), nstest.New(t, "vv1-b")
	nstest.Link(t, l.a, "wan0", netip.MustParsePrefix("192.0.2.1/24"), l.b, "wan0", netip.MustParsePrefix("192.0.2.2/24"))
	l.b.MustRun(t, "ip", "addr", "add", "10.2.0.1/16", "dev", "lo")
	l.log = iketest.NewLogBuffer(t)
	l.drv = iketest.Start(t, l.a, ipA, func(h ike.Host) *ikev1.Engine {
		return ikev1.New(ikev1.Config{RekeyGrace: 2 * time.Second}, h, l.log.Logger())
	})
	return l
}

func (l *lab) do(f func(*ikev1.Engine)) { l.drv.Do(f) }

func (l *lab) established() bool {
	var ok bool
	l.do(func(e *ikev1.Engine) { ok = e.Established("swan") })
	return ok
}

func (l *lab) lastErr() string {
	var s string
	l.do(func(e *ikev1.Engine) { s = e.LastError("swan") })
	return s
}

// agree checks strongSwan's installed child SAs are ours, with UDP
// encapsulation.
func (l *lab) agree() {
	l.t.Helper()
	sas, err := l.swan.SAs()
	if err != nil {
		l.t.Fatal(err)
	}
	ours := l.drv.Host.ByOutSPI()
	n := 0
	for _, s := range sas {
		l.t.Logf("strongSwan IKE SA %s state=%s %s/%s/%s/%s", s.Name, s.State, s.Encr, s.Integ, s.PRF, s.DH)
		for _, c := range s.Children {
			l.t.Logf("strongSwan CHILD SA %s state=%s in=%s out=%s %s/%s ts %v === %v", c.Name, c.State, c.SPIIn, c.SPIOut, c.Encr, c.Integ, c.LocalTS, c.RemoteTS)
			if c.State != "INSTALLED" {
				continue
			}
			var in uint32
			_, _ = fmtSscanf(c.SPIIn, &in)
			o := ours[in]
			if o == nil {
				l.t.Fatalf("strongSwan SPI-in %s is not our outbound SPI", c.SPIIn)
			}
			if !o.Encap {
				l.t.Fatal("Child SA not UDP-encapsulated although libipsec needs it")
			}
			n++
		}
	}
	if n == 0 {
		l.t.Fatalf("strongSwan has no installed CHILD SA: %+v", sas)
	}
}

func swanConn(ikeP, espP string) swantest.Conn {
	return swantest.Conn{Name: "vpngw", Version: 1, LocalAddr: "192.0.2.2", RemoteAddr: "192.0.2.1", PSK: "interop-psk-123",
		IKE: ikeP, ESP: espP, LocalTS: []string{"10.2.0.0/16"}, RemoteTS: []string{"10.1.0.0/16"}}
}

func ourPeer(t *testing.T, ikeP, espP string, mode ike.Mode) ike.Peer {
	p := ike.Peer{Name: "swan", Local: ipA, Remote: netip.MustParseAddr("192.0.2.2"), PSK: []byte("interop-psk-123"), Mode: mode,
		LocalTS: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}, RemoteTS: []netip.Prefix{netip.MustParsePrefix("10.2.0.0/16")}}
	var err error
	if ikeP != "" {
		if p.IKEProposals, err = transform.ParseProposals(ikeP, false); err != nil {
			t.Fatal(err)
		}
	}
	if espP != "" {
		if p.ESPProposals, err = transform.ParseProposals(espP, true); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func (l *lab) setPeer(p ike.Peer) {
	var err error
	l.do(func(e *ikev1.Engine) { err = e.SetPeers(time.Now(), []ike.Peer{p}) })
	if err != nil {
		l.t.Fatal(err)
	}
}

// Azure's PolicyBased default suites and DH groups 2 and 14.
var suites = []struct{ ike, esp string }{
	{"aes256-sha256-modp1024", "aes256-sha256"},
	{"aes256-sha1-modp1024", "aes256-sha1"},
	{"aes128-sha1-modp2048", "aes128-sha1"},
	{"3des-sha1-modp1024", "3des-sha1"},
	{"aes256-sha256-modp2048", "aes256gcm16-modp2048"},
}

func TestInteropV1VpngwInitiates(t *testing.T) {
	for _, s := range suites {
		t.Run(s.ike+"/"+s.esp, func(t *testing.T) {
			l := newLab(t)
			l.swan = swantest.Start(t, l.b, swanConn(s.ike, s.esp))
			l.setPeer(ourPeer(t, s.ike, s.esp, ike.ModeDefault))
			nstest.WaitFor(t, 15*time.Second, l.established, "vpngw → strongSwan (IKEv1): %s", l.lastErr())
			nstest.WaitFor(t, 5*time.Second, func() bool { return l.swan.Established("vpngw") }, "strongSwan side not established")
			l.agree()
		})
	}
}

func TestInteropV1StrongSwanInitiates(t *testing.T) {
	for _, s := range suites {
		t.Run(s.ike+"/"+s.esp, func(t *testing.T) {
			l := newLab(t)
			l.setPeer(ourPeer(t, s.ike, s.esp, ike.ModeResponderOnly))
			l.swan = swantest.Start(t, l.b, swanConn(s.ike, s.esp))
			if err := l.swan.Initiate("vpngw", 15*time.Second); err != nil {
				t.Fatalf("%v (ours: %s)", err, l.lastErr())
			}
			nstest.WaitFor(t, 5*time.Second, l.established, "not established: %s", l.lastErr())
			l.agree()
		})
	}
}

// Quick Mode rekey by strongSwan, then delete by strongSwan.
func TestInteropV1RekeyAndDelete(t *testing.T) {
	l := newLab(t)
	l.swan = swantest.Start(t, l.b, swanConn("aes256-sha256-modp1024", "aes256-sha256"))
	l.setPeer(ourPeer(t, "aes256-sha256-modp1024", "aes256-sha256", ike.ModeDefault))
	nstest.WaitFor(t, 15*time.Second, l.established, "not established: %s", l.lastErr())
	nstest.WaitFor(t, 5*time.Second, func() bool { return l.swan.Established("vpngw") }, "strongSwan side not established")
	l.agree()
	first := l.drv.Host.Children()
	if err := l.swan.RekeyChild("vpngw"); err != nil {
		t.Fatal(err)
	}
	nstest.WaitFor(t, 10*time.Second, func() bool {
		for in := range l.drv.Host.Children() {
			if first[in] == nil {
				return true
			}
		}
		return false
	}, "no new Child SA after strongSwan's Quick Mode rekey")
	// Our own rekey.
	var in uint32
	for k := range l.drv.Host.Children() {
		if first[k] == nil {
			in = k
		}
	}
	// The host installs the new inbound SA on our QM2, the engine counts it
	// established on strongSwan's HASH(3): until then RekeyChild refuses.
	var err error
	if !nstest.Eventually(5*time.Second, func() bool {
		l.do(func(e *ikev1.Engine) { err = e.RekeyChild(time.Now(), in) })
		return err == nil
	}) {
		t.Fatalf("our rekey of %08x: %v", in, err)
	}
	nstest.WaitFor(t, 10*time.Second, func() bool { _, ok := l.drv.Host.Children()[in]; return !ok }, "our rekey did not retire %08x", in)
	l.agree()
	if err := l.swan.Terminate("vpngw"); err != nil {
		t.Fatal(err)
	}
	nstest.WaitFor(t, 5*time.Second, func() bool { return len(l.drv.Host.Children()) == 0 }, "strongSwan's Delete not honoured")
}
