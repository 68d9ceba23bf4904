package ikev1_test

// Policy-based selector pairs and Main Mode re-authentication against
// strongSwan 5.9.8. charon's IKEv1 negotiates one pair of selectors per
// CHILD_SA config, so the 2 × 3 pairs are six children of one connection
// in its swanctl.conf.

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/ike"
	"github.com/vpngw/vpngw/internal/ike/ikev1"
	"github.com/vpngw/vpngw/internal/tstest/nstest"
	"github.com/vpngw/vpngw/internal/tstest/swantest"
)

var (
	vpngwNets = []string{"10.1.0.0/16", "10.11.0.0/16"}
	siteNets  = []string{"10.2.0.0/16", "10.12.0.0/16", "10.22.0.0/24"}
)

// policySwanctl is a swanctl.conf with one child per (site × vpngw)
// prefix pair, named p0..p5.
func policySwanctl(t *testing.T) string {
	var b strings.Builder
	fmt.Fprintf(&b, `connections {
	vpngw {
		version = 1
		local_addrs = 192.0.2.2
		remote_addrs = 192.0.2.1
		encap = yes
		proposals = aes256-sha256-modp1024
		rekey_time = 0
		dpd_delay = 0
		local { auth = psk
			id = 192.0.2.2 }
		remote { auth = psk
			id = 192.0.2.1 }
		children {
`)
	i := 0
	for _, s := range siteNets {
		for _, v := range vpngwNets {
			fmt.Fprintf(&b, "\t\t\tp%d {\n\t\t\t\tlocal_ts = %s\n\t\t\t\tremote_ts = %s\n\t\t\t\tesp_proposals = aes256-sha256\n\t\t\t\tmode = tunnel\n\t\t\t\trekey_time = 0\n\t\t\t\tstart_action = none\n\t\t\t}\n", i, s, v)
			i++
		}
	}
	b.WriteString("\t\t}\n\t}\n}\nsecrets {\n\tike-vpngw {\n\t\tid-a = 192.0.2.2\n\t\tid-b = 192.0.2.1\n\t\tsecret = \"interop-psk-123\"\n\t}\n}\n")
	path := filepath.Join(t.TempDir(), "swanctl.conf")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func policyPeer(t *testing.T, mode ike.Mode) ike.Peer {
	p := ourPeer(t, "aes256-sha256-modp1024", "aes256-sha256", mode)
	p.PolicyBased = true
	p.LocalTS, p.RemoteTS = nil, nil
	for _, v := range vpngwNets {
		p.LocalTS = append(p.LocalTS, netip.MustParsePrefix(v))
	}
	for _, s := range siteNets {
		p.RemoteTS = append(p.RemoteTS, netip.MustParsePrefix(s))
	}
	return p
}

// ourPairs lists our installed Child SAs' selectors, sorted.
func (l *lab) ourPairs() []string {
	var out []string
	for _, c := range l.drv.Host.Children() {
		out = append(out, ike.TSString(c.LocalTS)+"=="+ike.TSString(c.RemoteTS))
	}
	sort.Strings(out)
	return out
}

func allPairs() []string {
	var out []string
	for _, v := range vpngwNets {
		for _, s := range siteNets {
			out = append(out, v+"=="+s)
		}
	}
	sort.Strings(out)
	return out
}

func TestInteropV1PolicyBasedPairs(t *testing.T) {
	for _, who := range []string{"vpngw initiates", "strongSwan initiates"} {
		t.Run(who, func(t *testing.T) {
			l := newLab(t)
			for _, a := range []string{"10.12.0.1/16", "10.22.0.1/24"} {
				l.b.MustRun(t, "ip", "addr", "add", a, "dev", "lo") // libipsec needs a local address in each local_ts
			}
			if who == "vpngw initiates" {
				l.swan = swantest.StartFile(t, l.b, policySwanctl(t))
				l.setPeer(policyPeer(t, ike.ModeDefault))
			} else {
				l.setPeer(policyPeer(t, ike.ModeResponderOnly))
				l.swan = swantest.StartFile(t, l.b, policySwanctl(t))
				for i := range 6 {
					if _, err := l.swan.Swanctl("--initiate", "--child", fmt.Sprintf("p%d", i), "--ike", "vpngw", "--timeout", "15"); err != nil {
						t.Fatalf("child p%d: %v (ours: %s)", i, err, l.lastErr())
					}
				}
			}
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("charon's IKE log:\n%s", ikeLines(l.swan.Log()))
				}
			})
			want := strings.Join(allPairs(), " ")
			nstest.WaitFor(t, 20*time.Second, func() bool { return strings.Join(l.ourPairs(), " ") == want },
				"our Child SAs %v, want %v (%s)", l.ourPairs(), want, l.lastErr())
			nstest.WaitFor(t, 5*time.Second, func() bool { return l.swanInstalled() == 6 }, "strongSwan has %d installed CHILD SAs", l.swanInstalled())
			l.agree()
		})
	}
}

// swanInstalled counts strongSwan's installed CHILD SAs.
func (l *lab) swanInstalled() int {
	sas, err := l.swan.SAs()
	if err != nil {
		return -1
	}
	n := 0
	for _, s := range sas {
		for _, c := range s.Children {
			if c.State == "INSTALLED" {
				n++
			}
		}
	}
	return n
}

// ourIKE returns the SPIi of our established ISAKMP SAs.
func (l *lab) ourIKE() []string {
	var out []string
	l.do(func(e *ikev1.Engine) {
		ps, _ := e.PeerStatus("swan")
		for _, s := range ps.IKE {
			if s.State == "established" {
				out = append(out, s.SPIi)
			}
		}
	})
	return out
}

// Main Mode re-authentication keeps a Child SA installed on both sides
// throughout, whichever side runs it.
func TestInteropV1MainModeReauth(t *testing.T) {
	for _, who := range []string{"vpngw re-authenticates", "strongSwan re-authenticates"} {
		t.Run(who, func(t *testing.T) {
			l := newLab(t)
			conn := swanConn("aes256-sha256-modp1024", "aes256-sha256")
			p := ourPeer(t, "aes256-sha256-modp1024", "aes256-sha256", ike.ModeDefault)
			if who == "vpngw re-authenticates" {
				p.IKELifetime = 30 * time.Second // re-authentication at 27 s
			} else {
				conn.RekeyTime = "20s" // IKEv1: reauthentication
			}
			l.swan = swantest.Start(t, l.b, conn)
			l.setPeer(p)
			nstest.WaitFor(t, 15*time.Second, l.established, "not established: %s", l.lastErr())
			nstest.WaitFor(t, 5*time.Second, func() bool { return l.swan.Established("vpngw") }, "strongSwan side not established")
			l.agree()
			first := l.ourIKE()
			if len(first) != 1 {
				t.Fatalf("our ISAKMP SAs %v", first)
			}
			start := time.Now()
			deadline := start.Add(40 * time.Second)
			minOurs, minSwan := 99, 99
			// timeline records every change of the two counts, for the
			// failure message; a failed vici query (-1) is no sample.
			var timeline []string
			lastOurs, lastSwan := -2, -2
			for time.Now().Before(deadline) {
				ours, swan := len(l.drv.Host.Children()), l.swanInstalled()
				minOurs = min(minOurs, ours)
				if swan >= 0 {
					minSwan = min(minSwan, swan)
				}
				if ours != lastOurs || swan != lastSwan {
					timeline = append(timeline, fmt.Sprintf("%.1fs ours=%d swan=%d", time.Since(start).Seconds(), ours, swan))
					lastOurs, lastSwan = ours, swan
				}
				time.Sleep(100 * time.Millisecond)
			}
			after := l.ourIKE()
			t.Logf("ISAKMP SA %v -> %v; fewest Child SAs during the re-authentication: ours %d, strongSwan's %d", first, after, minOurs, minSwan)
			if len(after) == 0 || after[len(after)-1] == first[0] {
				t.Fatalf("no re-authentication: %v -> %v (%s)", first, after, l.lastErr())
			}
			if minOurs < 1 || minSwan < 1 {
				t.Fatalf("a gap: ours %d, strongSwan's %d installed at the worst moment; timeline %v; events %v\ncharon:\n%s",
					minOurs, minSwan, timeline, l.drv.Host.Events(), ikeLines(l.swan.Log()))
			}
			for _, ev := range l.drv.Host.Events() {
				if ev.Kind == ike.EventIKEDown {
					t.Fatalf("ike-down during re-authentication: %s", ev.Reason)
				}
			}
			nstest.WaitFor(t, 10*time.Second, func() bool { return l.swan.Established("vpngw") }, "strongSwan side not established")
			l.agree()
		})
	}
}

// ikeLines drops charon's vici chatter (our polling) from its log.
func ikeLines(log string) string {
	var out []string
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, "[CFG] vici") {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
