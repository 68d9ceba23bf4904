package agent

import (
	"crypto/tls"
	"encoding/base64"
	"encoding/pem"
	"log/slog"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/gwconfig"
	"github.com/vpngw/vpngw/internal/ike"
	"github.com/vpngw/vpngw/internal/ike/ikev1"
	"github.com/vpngw/vpngw/internal/transform"
)

const p2sConfig = `{"name":"gw","localAddress":"192.0.2.1","localPrefixes":["10.1.0.0/16"],"connections":[],
 "pointToSite":{"addressPool":["192.168.50.0/29"],"fqdn":"gw.vpngw.test","pkiDir":"../gwconfig/testdata/p2s",
  "users":[{"name":"alice","password":"pw"}],"dns":["10.1.0.53"]}}`

// The template keeps its RemoteAccess (pool and clients) across reloads
// while the pointToSite section is unchanged, and gets a new one when it
// changes; the engine accepts it beside the connections.
func TestP2STemplateAcrossReloads(t *testing.T) {
	parse := func(s string) *gwconfig.Instance {
		t.Helper()
		in, err := gwconfig.Parse([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return in
	}
	first := parse(p2sConfig)
	s1, err := newP2S(nil, first, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := s1.peer(first)
	if p.Name != "p2s" || !reflect.DeepEqual(p.LocalID, ike.FQDNIdentity("gw.vpngw.test")) || p.Mode != ike.ModeResponderOnly || len(p.LocalTS) != 1 ||
		p.LocalTS[0].String() != "10.1.0.0/16" || p.RemoteAccess == nil || len(p.RemoteAccess.DNS) != 1 || p.ForceEncap {
		t.Fatalf("template: %+v", p)
	}
	if _, ok := p.RemoteAccess.Users("CORP\\alice"); !ok {
		t.Fatal("alice unknown")
	}
	e := newEngines(ike.New(ike.Config{}, nopHost{}, nil), ikev1.New(ikev1.Config{}, nopHost{}, nil))
	if err := e.SetPeers(time.Unix(1_700_000_000, 0), first, nil, p); err != nil {
		t.Fatal(err)
	}
	if g, err := e.of("p2s"); err != nil || g != engine(e.v2) {
		t.Fatalf("the template is not the IKEv2 engine's: %v", err)
	}
	for _, tc := range []struct {
		name, cfg string
		same      bool
	}{
		{"unchanged", p2sConfig, true},
		{"a connection added", strings.Replace(p2sConfig, `"connections":[]`, `"connections":[{"name":"c1","remoteAddress":"192.0.2.2","remotePrefixes":["10.2.0.0/16"],"sharedKey":"k"}]`, 1), true},
		{"DNS changed", strings.Replace(p2sConfig, "10.1.0.53", "10.1.0.54", 1), false},
		{"password changed", strings.Replace(p2sConfig, `"pw"`, `"pw2"`, 1), false},
		{"pool changed", strings.Replace(p2sConfig, "192.168.50.0/29", "192.168.50.0/28", 1), false},
		{"EAP-TLS version named", strings.Replace(p2sConfig, `"dns":`, `"eapTlsMaxVersion":"1.2","dns":`, 1), true},
	} {
		s2, err := newP2S(s1, parse(tc.cfg), nil)
		if err != nil {
			t.Fatal(err)
		}
		if (s2 == s1) != tc.same || (s2.ra == s1.ra) != tc.same {
			t.Errorf("%s: same template %v, want %v", tc.name, s2 == s1, tc.same)
		}
	}
	none, err := newP2S(s1, parse(`{"localAddress":"192.0.2.1"}`), nil)
	if err != nil || none != nil || none.peer(first) != nil || none.name() != "" {
		t.Fatalf("without pointToSite: %v %v", none, err)
	}
}

// A change of the revoked thumbprints alone gives the template a
// RemoteAccess that shares the pool, key and relay with the old one and
// differs only in Clients: the engine applies it in place (its clients stay
// connected, those now revoked are disconnected).
func TestP2SRevocationKeepsTemplate(t *testing.T) {
	caPEM, err := os.ReadFile("../gwconfig/testdata/p2s/ca.pem")
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(caPEM)
	root := base64.StdEncoding.EncodeToString(blk.Bytes)
	cfg := func(revoked string, extra ...string) *gwconfig.Instance {
		t.Helper()
		s := strings.Replace(p2sConfig, `"users":[{"name":"alice","password":"pw"}]`, `"clientRootCertificates":["`+root+`"],"revokedThumbprints":[`+revoked+`]`+strings.Join(extra, ""), 1)
		in, err := gwconfig.Parse([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return in
	}
	first := cfg("")
	s1, err := newP2S(nil, first, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s1.ra.Clients == nil || s1.ra.Users != nil {
		t.Fatalf("certificate clients: %+v", s1.ra)
	}
	e := newEngines(ike.New(ike.Config{}, nopHost{}, nil), ikev1.New(ikev1.Config{}, nopHost{}, nil))
	now := time.Unix(1_700_000_000, 0)
	if err := e.SetPeers(now, first, nil, s1.peer(first)); err != nil {
		t.Fatal(err)
	}
	second := cfg(`"` + strings.Repeat("AB", 20) + `"`)
	s2, err := newP2S(s1, second, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s2 == s1 || s2.ra == s1.ra || s2.ra.Pool != s1.ra.Pool || s2.ra.Key != s1.ra.Key || s2.ra.Clients == s1.ra.Clients {
		t.Fatalf("revocation: %+v vs %+v", s2.ra, s1.ra)
	}
	if err := e.SetPeers(now, second, nil, s2.peer(second)); err != nil {
		t.Fatal(err)
	}
	// So does a change of the EAP-TLS version (default 1.2).
	third := cfg(`"`+strings.Repeat("AB", 20)+`"`, `,"eapTlsMaxVersion":"1.3"`)
	s3, err := newP2S(s2, third, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s2.ra.TLSMaxVersion != tls.VersionTLS12 || s3 == s2 || s3.ra.Pool != s2.ra.Pool || s3.ra.TLSMaxVersion != tls.VersionTLS13 {
		t.Fatalf("EAP-TLS 1.3: %+v vs %+v", s3.ra, s2.ra)
	}
	if err := e.SetPeers(now, third, nil, s3.peer(third)); err != nil {
		t.Fatal(err)
	}
	// RADIUS needs the agent's relay.
	rad := strings.Replace(p2sConfig, `"users":[{"name":"alice","password":"pw"}]`, `"radiusServers":[{"address":"10.1.0.10","secret":"s"}]`, 1)
	in, err := gwconfig.Parse([]byte(rad))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newP2S(nil, in, nil); err == nil || !strings.Contains(err.Error(), "pointToSite.radiusServers") {
		t.Fatalf("RADIUS without a relay: %v", err)
	}
	a := &Agent{cfg: in, log: slog.New(slog.DiscardHandler)}
	s4, err := newP2S(nil, in, a.newRelay)
	if err != nil || s4.ra.Relay == nil || s4.ra.Users != nil {
		t.Fatalf("RADIUS: %+v %v", s4, err)
	}
}

// A pointToSite.ipsecPolicy reaches the template peer as its only
// proposals and its Child SA lifetimes (replacing the default offer);
// without one the engine's defaults apply (nil).
func TestP2STemplateIpsecPolicy(t *testing.T) {
	withPolicy := strings.Replace(p2sConfig, `"dns":["10.1.0.53"]`, `"dns":["10.1.0.53"],"ipsecPolicy":{"saLifeTimeSeconds":3600,"saDataSizeKilobytes":102400,
	 "ipsecEncryption":"GCMAES128","ipsecIntegrity":"GCMAES128","ikeEncryption":"GCMAES256","ikeIntegrity":"SHA256","dhGroup":"ECP256","pfsGroup":"None"}`, 1)
	for _, tc := range []struct {
		name, cfg, ike, esp string
		life                time.Duration
	}{
		{"default", p2sConfig, "", "", 0},
		{"custom", withPolicy, "aes256gcm16-prfsha256-ecp256", "aes128gcm16", time.Hour},
	} {
		in, err := gwconfig.Parse([]byte(tc.cfg))
		if err != nil {
			t.Fatal(err)
		}
		s, err := newP2S(nil, in, nil)
		if err != nil {
			t.Fatal(err)
		}
		p := s.peer(in)
		if got := transform.FormatProposals(p.IKEProposals); got != tc.ike {
			t.Errorf("%s: IKE %q, want %q", tc.name, got, tc.ike)
		}
		if got := transform.FormatProposals(p.ESPProposals); got != tc.esp {
			t.Errorf("%s: ESP %q, want %q", tc.name, got, tc.esp)
		}
		if p.ChildLifetime != tc.life {
			t.Errorf("%s: child lifetime %v, want %v", tc.name, p.ChildLifetime, tc.life)
		}
	}
}
