package ike_test

// IKE-level interoperability with strongSwan 5.9.8: the Engine runs over
// real UDP sockets (500 and 4500, with the non-ESP marker) in one network
// namespace, charon in another. No ESP flows here; the agent tests move
// traffic through the tunnels.

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/ike"
	"github.com/vpngw/vpngw/internal/transform"
	"github.com/vpngw/vpngw/internal/tstest/iketest"
	"github.com/vpngw/vpngw/internal/tstest/nstest"
	"github.com/vpngw/vpngw/internal/tstest/swantest"
)

// ikeLab is a vpngw Engine in one namespace (driven over real UDP sockets
// by iketest) and charon in another.
type ikeLab struct {
	t    *testing.T
	a, b *nstest.NS
	drv  *iketest.Driver[*ike.Engine]
	swan *swantest.Daemon
}

var (
	ipA = netip.MustParseAddr("192.0.2.1")
	ipB = netip.MustParseAddr("192.0.2.2")
)

func newIKELab(t *testing.T) *ikeLab {
	swantest.Require(t)
	l := &ikeLab{t: t}
	l.a, l.b = nstest.New(t, "vike-a"), nstest.New(t, "vike-b")
	nstest.Link(t, l.a, "wan0", netip.MustParsePrefix("192.0.2.1/24"), l.b, "wan0", netip.MustParsePrefix("192.0.2.2/24"))
	// charon (libipsec) needs an address inside its local selectors.
	l.b.MustRun(t, "ip", "addr", "add", "10.2.0.1/16", "dev", "lo")
	l.drv = iketest.Start(t, l.a, ipA, func(h ike.Host) *ike.Engine {
		return ike.New(ike.Config{RekeyGrace: 2 * time.Second}, h, nil)
	})
	return l
}

// do runs f on the engine's goroutine.
func (l *ikeLab) do(f func(*ike.Engine)) { l.drv.Do(f) }

func (l *ikeLab) status() ike.PeerStatus {
	var st []ike.PeerStatus
	l.do(func(e *ike.Engine) { st = e.Status() })
	return st[0]
}

func (l *ikeLab) established() bool {
	var ok bool
	l.do(func(e *ike.Engine) { ok = e.Established("swan") })
	return ok
}

// agree checks both sides see the same Child SA SPIs.
func (l *ikeLab) agree() {
	l.t.Helper()
	sas, err := l.swan.SAs()
	if err != nil {
		l.t.Fatal(err)
	}
	ours := l.drv.Host.ByOutSPI()
	n := 0
	for _, s := range sas {
		for _, c := range s.Children {
			if c.State != "INSTALLED" {
				continue
			}
			n++
			var in uint32
			fmt.Sscanf(c.SPIIn, "%x", &in)
			if _, ok := ours[in]; !ok {
				l.t.Fatalf("strongSwan child SPI-in %s not our outbound SPI (ours: %v)", c.SPIIn, keysOf(ours))
			}
		}
	}
	if n == 0 {
		l.t.Fatalf("strongSwan has no installed child SA: %+v", sas)
	}
}

func keysOf(m map[uint32]*ike.ChildSA) []string {
	var out []string
	for k := range m {
		out = append(out, fmt.Sprintf("%08x", k))
	}
	return out
}

func (l *ikeLab) setPeer(p ike.Peer) {
	l.t.Helper()
	var err error
	l.do(func(e *ike.Engine) { err = e.SetPeers(time.Now(), []ike.Peer{p}) })
	if err != nil {
		l.t.Fatal(err)
	}
}

func swanConn(ikeP, espP string) swantest.Conn {
	return swantest.Conn{Name: "vpngw", LocalAddr: "192.0.2.2", RemoteAddr: "192.0.2.1", PSK: "interop-psk-123",
		IKE: ikeP, ESP: espP, LocalTS: []string{"10.2.0.0/16"}, RemoteTS: []string{"10.1.0.0/16"}}
}

func ourPeer(t *testing.T, ikeP, espP string, mode ike.Mode) ike.Peer {
	p := ike.Peer{Name: "swan", Local: ipA, Remote: ipB, PSK: []byte("interop-psk-123"), Mode: mode,
		LocalTS: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}, RemoteTS: []netip.Prefix{netip.MustParsePrefix("10.2.0.0/16")}}
	if ikeP != "" {
		p.IKEProposals = mustParse(t, ikeP, false)
	}
	if espP != "" {
		p.ESPProposals = mustParse(t, espP, true)
	}
	return p
}

func mustParse(t *testing.T, s string, esp bool) []transform.Proposal {
	p, err := transform.ParseProposals(s, esp)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var suites = []struct{ ike, esp string }{
	{"aes256gcm16-prfsha256-ecp256", "aes256gcm16"},
	{"aes256-sha256-modp2048", "aes256-sha256"},
	{"aes256-sha1-modp1024", "aes128-sha1"},
	{"aes128-sha256-curve25519", "aes256-sha256-modp2048"},
	{"3des-sha1-modp1024", "3des-sha1"},
}

func TestInteropVpngwInitiates(t *testing.T) {
	for _, s := range suites {
		t.Run(s.ike+"/"+s.esp, func(t *testing.T) {
			l := newIKELab(t)
			l.swan = swantest.Start(t, l.b, swanConn(s.ike, s.esp))
			l.setPeer(ourPeer(t, s.ike, s.esp, ike.ModeDefault))
			nstest.WaitFor(t, 10*time.Second, l.established, "vpngw → strongSwan: %+v", l.status())
			nstest.WaitFor(t, 5*time.Second, func() bool { return l.swan.Established("vpngw") }, "strongSwan side not established")
			l.agree()
			st := l.status()
			if !st.IKE[0].Encap {
				t.Fatal("libipsec forces UDP encapsulation; we did not notice")
			}
		})
	}
}

func TestInteropStrongSwanInitiates(t *testing.T) {
	for _, s := range suites {
		t.Run(s.ike+"/"+s.esp, func(t *testing.T) {
			l := newIKELab(t)
			l.setPeer(ourPeer(t, "", "", ike.ModeResponderOnly)) // our defaults must accept these suites
			l.swan = swantest.Start(t, l.b, swanConn(s.ike, s.esp))
			if err := l.swan.Initiate("vpngw", 10*time.Second); err != nil {
				t.Fatal(err)
			}
			nstest.WaitFor(t, 5*time.Second, l.established, "not established: %+v", l.status())
			l.agree()
		})
	}
}

func TestInteropRekeysAndDelete(t *testing.T) {
	l := newIKELab(t)
	l.swan = swantest.Start(t, l.b, swanConn("aes256gcm16-prfsha256-ecp256", "aes256gcm16-ecp256"))
	l.setPeer(ourPeer(t, "aes256gcm16-prfsha256-ecp256", "aes256gcm16-ecp256", ike.ModeDefault))
	nstest.WaitFor(t, 10*time.Second, l.established, "not established")
	nstest.WaitFor(t, 5*time.Second, func() bool { return l.swan.Established("vpngw") }, "strongSwan side not established")
	l.agree()
	firstIn := keysOf(l.drv.Host.ByOutSPI())[0]

	// strongSwan rekeys the child (with PFS), then the IKE SA.
	if err := l.swan.RekeyChild("vpngw"); err != nil {
		t.Fatal(err)
	}
	nstest.WaitFor(t, 10*time.Second, func() bool {
		o := l.drv.Host.ByOutSPI()
		_, old := o[parseSPI(firstIn)]
		return len(o) == 1 && !old
	}, "child rekey by strongSwan: ours %v", keysOf(l.drv.Host.ByOutSPI()))
	l.agree()
	spi := l.status().IKE[0].SPIi
	if err := l.swan.RekeyIKE("vpngw"); err != nil {
		t.Fatal(err)
	}
	nstest.WaitFor(t, 10*time.Second, func() bool {
		st := l.status()
		return len(st.IKE) == 1 && st.IKE[0].SPIi != spi && st.State == "established"
	}, "IKE rekey by strongSwan: %+v", l.status())
	l.agree()

	// We rekey the child, then the IKE SA.
	var in uint32
	for _, c := range l.drv.Host.ByOutSPI() {
		in = c.InSPI
	}
	l.do(func(e *ike.Engine) { e.SoftLimit(time.Now(), in) })
	nstest.WaitFor(t, 10*time.Second, func() bool {
		children := l.drv.Host.Children()
		_, old := children[in]
		return !old && len(children) == 1
	}, "our child rekey")
	l.agree()
	nstest.WaitFor(t, 10*time.Second, func() bool {
		sas, _ := l.swan.SAs()
		return len(sas) == 1 && len(sas[0].Children) == 1
	}, "strongSwan keeps old child SAs")

	// strongSwan terminates: we notice at once.
	if err := l.swan.Terminate("vpngw"); err != nil {
		t.Fatal(err)
	}
	nstest.WaitFor(t, 5*time.Second, func() bool {
		return l.status().State != "established" || len(l.status().IKE) == 0 || l.status().IKE[0].State != "established"
	}, "delete not noticed")
	// We come back (Default mode) and then close cleanly: strongSwan's SA
	// disappears.
	nstest.WaitFor(t, 15*time.Second, l.established, "not re-established")
	l.do(func(e *ike.Engine) { e.Close(time.Now()) })
	nstest.WaitFor(t, 5*time.Second, func() bool {
		sas, _ := l.swan.SAs()
		return len(sas) == 0
	}, "strongSwan still has SAs after our shutdown")
}

func TestInteropAuthFailureReason(t *testing.T) {
	l := newIKELab(t)
	c := swanConn("aes256-sha256-modp2048", "aes256-sha256")
	c.PSK = "wrong-key"
	l.swan = swantest.Start(t, l.b, c)
	l.setPeer(ourPeer(t, "aes256-sha256-modp2048", "aes256-sha256", ike.ModeDefault))
	nstest.WaitFor(t, 10*time.Second, func() bool {
		return strings.Contains(l.status().LastError, "AUTHENTICATION_FAILED")
	}, "no AUTHENTICATION_FAILED reason: %+v", l.status())
}

func TestInteropProposalMismatchReason(t *testing.T) {
	l := newIKELab(t)
	l.swan = swantest.Start(t, l.b, swanConn("aes128-sha256-ecp384", "aes128-sha256"))
	l.setPeer(ourPeer(t, "aes256-sha256-modp2048", "aes256-sha256", ike.ModeDefault))
	nstest.WaitFor(t, 10*time.Second, func() bool {
		return strings.Contains(l.status().LastError, "NO_PROPOSAL_CHOSEN")
	}, "no NO_PROPOSAL_CHOSEN reason: %+v", l.status())
}

func parseSPI(s string) uint32 {
	var v uint32
	fmt.Sscanf(s, "%x", &v)
	return v
}

// strongSwan accepts only MODP2048; we send ECP256 first and retry with the
// group its INVALID_KE_PAYLOAD names.
func TestInteropInvalidKERetry(t *testing.T) {
	l := newIKELab(t)
	l.swan = swantest.Start(t, l.b, swanConn("aes256-sha256-modp2048", "aes256-sha256"))
	l.setPeer(ourPeer(t, "aes256-sha256-ecp256-modp2048", "aes256-sha256", ike.ModeDefault))
	nstest.WaitFor(t, 10*time.Second, l.established, "not established after INVALID_KE_PAYLOAD: %+v", l.status())
	if s := l.status().IKE[0].Suite; !strings.Contains(s, "modp2048") {
		t.Fatalf("suite %q", s)
	}
	l.agree()
}
