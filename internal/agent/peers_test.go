package agent

import (
	"bytes"
	"errors"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/gwconfig"
	"github.com/vpngw/vpngw/internal/ike"
	"github.com/vpngw/vpngw/internal/ike/ikev1"
)

// policyConfig is one connection with an Azure custom policy (JSON, as the
// control plane sends it).
const policyConfig = `{"name":"gw","localAddress":"192.0.2.1","localPrefixes":["10.1.0.0/16"],"connections":[{"name":"c1",
 "remoteAddress":"192.0.2.2","remotePrefixes":["10.2.0.0/16"],"sharedKey":"abc123",
 "ipsecPolicy":{"ikeEncryption":"aes256","ikeIntegrity":"sha256","dhGroup":"dhgroup14","ipsecEncryption":"gcmaes256",
  "ipsecIntegrity":"gcmaes256","pfsGroup":"pfs2048","saLifeTimeSeconds":3600,"saDataSizeKilobytes":102400}}]}`

func TestPeers(t *testing.T) {
	c, err := gwconfig.Parse([]byte(policyConfig))
	if err != nil {
		t.Fatal(err)
	}
	ps, err := peers(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := ps[0]
	if p.Mode != ike.ModeDefault || string(p.PSK) != "abc123" || p.ChildLifetime.Seconds() != 3600 || p.ChildLifeBytes != 102400*1024 ||
		len(p.IKEProposals) != 1 || p.IKEProposals[0].String() != "aes256-sha256-prfsha256-modp2048" ||
		len(p.ESPProposals) != 1 || p.ESPProposals[0].String() != "aes256gcm16-modp2048" ||
		p.DPDTimeout != 45*time.Second || p.Port != 500 || p.Local.String() != "192.0.2.1" || p.Remote.String() != "192.0.2.2" {
		t.Fatalf("peer: %+v ike=%v esp=%v", p, p.IKEProposals, p.ESPProposals)
	}
	if p.LocalTS[0].String() != "0.0.0.0/0" || p.PolicyBased {
		t.Fatalf("route-based selectors: %+v", p)
	}
}

func TestPeersResolveFQDN(t *testing.T) {
	c, err := gwconfig.Parse([]byte(`
localAddress: 192.0.2.1
connections:
  - name: c1
    remoteFqdn: vpn.example.test
    remotePrefixes: [10.2.0.0/16]
    sharedKey: abc123
`))
	if err != nil {
		t.Fatal(err)
	}
	ps, err := peers(c, func(h string) ([]string, error) {
		if h != "vpn.example.test" {
			t.Fatalf("looked up %q", h)
		}
		return []string{"198.51.100.7"}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if ps[0].Remote.String() != "198.51.100.7" {
		t.Fatalf("%+v", ps[0])
	}
	_, err = peers(c, func(string) ([]string, error) { return nil, errors.New("no such host") })
	if err == nil || !errors.Is(err, gwconfig.ErrInvalid) || !strings.Contains(err.Error(), `connections[0].remoteFqdn: cannot resolve "vpn.example.test"`) {
		t.Fatalf("resolution error: %v", err)
	}
}

func TestExampleConfigPeers(t *testing.T) {
	c, err := gwconfig.LoadFile("../../docs/examples/agent.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := peers(c, nil); err != nil {
		t.Fatal(err)
	}
}

// nopHost is an ike.Host that drops everything.
type nopHost struct{}

func (nopHost) SendIKE(ike.Packet)                                  {}
func (nopHost) InstallChildSA(*ike.ChildSA, bool) error             { return nil }
func (nopHost) ActivateOutbound(uint32)                             {}
func (nopHost) DeleteChildSA(uint32)                                {}
func (nopHost) PeerEndpoint(string, netip.AddrPort, netip.AddrPort) {}
func (nopHost) Event(ike.Event)                                     {}

// FuzzPeers feeds arbitrary configurations through gwconfig.Parse to the
// IKE engines: every connection of a configuration that Parse accepts
// becomes a peer that its engine (IKEv2 or IKEv1) accepts, and its
// point-to-site section a template the IKEv2 engine accepts. (The parser itself is fuzzed by
// gwconfig's FuzzParse.)
func FuzzPeers(f *testing.F) {
	f.Add([]byte(policyConfig))
	f.Add([]byte(strings.Replace(policyConfig, `"sharedKey"`, `"usePolicyBasedTrafficSelectors":true,"connectionMode":"responderonly","sharedKey"`, 1)))
	f.Add([]byte(twoProtocols))
	f.Add([]byte(policyBasedConfig))
	f.Add([]byte(strings.Replace(policyConfig, `"connections"`, `"pointToSite":{"addressPool":["192.168.50.0/29","10.9.0.0/16"],"fqdn":"gw.vpngw.test",`+
		`"pkiDir":"../gwconfig/testdata/p2s","users":[{"name":"alice","password":"pw"}],"dns":["10.1.0.53"]},"connections"`, 1)))
	f.Add([]byte(strings.Replace(policyConfig, `"connections"`, `"rawEsp":false,"pointToSite":{"name":"vpn","addressPool":["172.31.0.0/16"],"fqdn":"GW.vpngw.test.",`+
		`"pkiDir":"../gwconfig/testdata/p2s","users":[{"name":"CORP\\alice","ntHash":"8846f7eaee8fb117ad06bdd830b7586c"}]},"connections"`, 1)))
	if b, err := os.ReadFile("../../docs/examples/agent.yaml"); err == nil {
		f.Add(b)
	}
	lookup := func(string) ([]string, error) { return []string{"198.51.100.9"}, nil }
	f.Fuzz(func(t *testing.T, b []byte) {
		if bytes.Contains(b, []byte("sharedKeyFile")) || bytes.Contains(b, []byte("certificateFile")) ||
			(bytes.Contains(b, []byte("pkiDir")) && !bytes.Contains(b, []byte(`"pkiDir":"../gwconfig/testdata/p2s"`))) {
			t.Skip("reading files is gwconfig's FuzzParse's business")
		}
		c, err := gwconfig.Parse(b)
		if err != nil {
			return
		}
		ps, err := peers(c, lookup)
		if err != nil {
			t.Fatalf("valid configuration has no IKE peers: %v", err)
		}
		p2s, err := newP2S(nil, c, nil)
		if err != nil {
			t.Fatalf("valid point-to-site section has no template: %v", err)
		}
		e := newEngines(ike.New(ike.Config{}, nopHost{}, nil), ikev1.New(ikev1.Config{}, nopHost{}, nil))
		if err := e.SetPeers(time.Unix(1_700_000_000, 0), c, ps, p2s.peer(c)); err != nil {
			t.Fatalf("the IKE engines reject a valid configuration: %v", err)
		}
	})
}
