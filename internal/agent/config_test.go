package agent

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vpngw/vpngw/internal/ike"
)

const baseConfig = `
name: gw
localAddress: 192.0.2.1
localPrefixes: [10.1.0.0/16]
connections:
  - name: c1
    remoteAddress: 192.0.2.2
    remotePrefixes: [10.2.0.0/16]
    sharedKey: abc123
`

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"unknown top-level field", baseConfig + "bogus: 1\n", "line 10: field bogus not found"},
		{"unknown connection field", strings.Replace(baseConfig, "sharedKey: abc123", "sharedKey: abc123\n    presharedKey: x", 1), "field presharedKey not found"},
		{"missing local address", strings.Replace(baseConfig, "localAddress: 192.0.2.1", "", 1), "localAddress: is required"},
		{"bad local address", strings.Replace(baseConfig, "192.0.2.1", "192.0.2.300", 1), `localAddress: "192.0.2.300" is not an IP address`},
		{"bad prefix", strings.Replace(baseConfig, "[10.2.0.0/16]", "[10.2.0.0/33]", 1), `connections[0].remotePrefixes[0]: "10.2.0.0/33" is not a CIDR prefix`},
		{"host bits", strings.Replace(baseConfig, "[10.2.0.0/16]", "[10.2.0.1/16]", 1), "did you mean 10.2.0.0/16"},
		{"no prefixes", strings.Replace(baseConfig, "remotePrefixes: [10.2.0.0/16]", "remotePrefixes: []", 1), "connections[0].remotePrefixes: at least one prefix is required"},
		{"no key", strings.Replace(baseConfig, "sharedKey: abc123", "", 1), "connections[0].sharedKey: is required"},
		{"key with hyphen", strings.Replace(baseConfig, "abc123", "abc-123", 1), "connections[0].sharedKey: must be printable ASCII except space, '-' and '~'"},
		{"ikev1", baseConfig + "    connectionProtocol: IKEv1\n", "IKEv1 is not supported yet"},
		{"bad mode", baseConfig + "    connectionMode: Sometimes\n", `connections[0].connectionMode: "Sometimes" is not Default, InitiatorOnly or ResponderOnly`},
		{"dpd range", baseConfig + "    dpdTimeoutSeconds: 5\n", "connections[0].dpdTimeoutSeconds: 5 is outside 9..3600"},
		{"partial policy", baseConfig + "    ipsecPolicy: {ikeEncryption: AES256}\n", "connections[0].ipsecPolicy.saLifeTimeSeconds"},
		{"bad policy enum", baseConfig + "    ipsecPolicy: {ikeEncryption: AES999, ikeIntegrity: SHA256, dhGroup: DHGroup14, ipsecEncryption: AES256, ipsecIntegrity: SHA256, pfsGroup: None, saLifeTimeSeconds: 3600, saDataSizeKilobytes: 102400}\n", "connections[0].ipsecPolicy.ikeEncryption"},
		{"gcm pairing", baseConfig + "    ipsecPolicy: {ikeEncryption: AES256, ikeIntegrity: SHA256, dhGroup: DHGroup14, ipsecEncryption: GCMAES256, ipsecIntegrity: SHA256, pfsGroup: None, saLifeTimeSeconds: 3600, saDataSizeKilobytes: 102400}\n", "same GCM algorithm"},
		{"policy and proposals", baseConfig + "    ikeProposals: aes256-sha256-modp2048\n    ipsecPolicy: {ikeEncryption: AES256, ikeIntegrity: SHA256, dhGroup: DHGroup14, ipsecEncryption: AES256, ipsecIntegrity: SHA256, pfsGroup: None, saLifeTimeSeconds: 3600, saDataSizeKilobytes: 102400}\n", "give ipsecPolicy or ikeProposals/espProposals, not both"},
		{"bad proposal", baseConfig + "    ikeProposals: aes256-sha256-modp9999\n", "connections[0].ikeProposals"},
		{"duplicate names", baseConfig + "  - name: c1\n    remoteAddress: 192.0.2.3\n    remotePrefixes: [10.3.0.0/16]\n    sharedKey: x\n", `connections[1].name: "c1" is also the name of connections[0]`},
		{"overlapping routes", baseConfig + "  - name: c2\n    remoteAddress: 192.0.2.3\n    remotePrefixes: [10.2.0.0/16]\n    sharedKey: x\n", `connections[1].remotePrefixes[0]: 10.2.0.0/16 is already routed to connection "c1"`},
		{"no remote", strings.Replace(baseConfig, "remoteAddress: 192.0.2.2", "", 1), "connections[0].remoteAddress: is required"},
		{"both remotes", baseConfig + "    remoteFqdn: vpn.example.com\n", "give remoteAddress or remoteFqdn, not both"},
		{"policy based without local prefixes", strings.Replace(baseConfig, "localPrefixes: [10.1.0.0/16]", "", 1) + "    usePolicyBasedTrafficSelectors: true\n", "needs localPrefixes"},
		{"device name", baseConfig + "tunnel: {device: averyveryverylongname}\n", "tunnel.device"},
		{"mtu", baseConfig + "tunnel: {mtu: 100}\n", "tunnel.mtu: 100 is outside 576..9000"},
		{"ports", baseConfig + "ikePort: 4500\n", "nattPort: must differ from ikePort"},
		{"encap", baseConfig + "    udpEncapsulation: sometimes\n", "connections[0].udpEncapsulation"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "abc-123") {
				t.Fatal("error echoes the shared key")
			}
		})
	}
}

func TestConfigDefaultsAndPeers(t *testing.T) {
	c, err := Parse([]byte(baseConfig + "    ipsecPolicy: {ikeEncryption: aes256, ikeIntegrity: sha256, dhGroup: dhgroup14, ipsecEncryption: gcmaes256, ipsecIntegrity: gcmaes256, pfsGroup: pfs2048, saLifeTimeSeconds: 3600, saDataSizeKilobytes: 102400}\n"))
	if err != nil {
		t.Fatal(err)
	}
	cn := c.Connections[0]
	if c.Tunnel.Device != "vpngw0" || c.Tunnel.MTU != 1400 || c.IKEPort != 500 || c.NATTPort != 4500 || !*c.RawESP ||
		cn.DPDTimeoutSeconds != 45 || cn.ConnectionMode != "Default" || cn.ConnectionProtocol != "IKEv2" {
		t.Fatalf("defaults: %+v %+v", c, cn)
	}
	if cn.IpsecPolicy.IkeEncryption != "AES256" || cn.IpsecPolicy.PfsGroup != "PFS2048" {
		t.Fatalf("policy not canonicalised: %+v", cn.IpsecPolicy)
	}
	peers, err := c.peers(nil)
	if err != nil {
		t.Fatal(err)
	}
	p := peers[0]
	if p.Mode != ike.ModeDefault || string(p.PSK) != "abc123" || p.ChildLifetime.Seconds() != 3600 || p.ChildLifeBytes != 102400*1024 ||
		len(p.IKEProposals) != 1 || p.IKEProposals[0].String() != "aes256-sha256-prfsha256-modp2048" ||
		len(p.ESPProposals) != 1 || p.ESPProposals[0].String() != "aes256gcm16-modp2048" {
		t.Fatalf("peer: %+v ike=%v esp=%v", p, p.IKEProposals, p.ESPProposals)
	}
	if p.LocalTS[0].String() != "0.0.0.0/0" || p.PolicyBased {
		t.Fatalf("route-based selectors: %+v", p)
	}
}

func TestConfigSharedKeyFileAndFQDN(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "key")
	if err := os.WriteFile(key, []byte("fromFile42\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	y := strings.Replace(baseConfig, "sharedKey: abc123", "sharedKeyFile: "+key, 1)
	y = strings.Replace(y, "remoteAddress: 192.0.2.2", "remoteFqdn: vpn.example.test", 1)
	c, err := Parse([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	peers, err := c.peers(func(h string) ([]string, error) {
		if h != "vpn.example.test" {
			t.Fatalf("looked up %q", h)
		}
		return []string{"198.51.100.7"}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if string(peers[0].PSK) != "fromFile42" || peers[0].Remote.String() != "198.51.100.7" {
		t.Fatalf("%+v", peers[0])
	}
	_, err = c.peers(func(string) ([]string, error) { return nil, errors.New("no such host") })
	if err == nil || !strings.Contains(err.Error(), `connections[0].remoteFqdn: cannot resolve "vpn.example.test"`) {
		t.Fatalf("resolution error: %v", err)
	}
}

func TestExampleConfigIsValid(t *testing.T) {
	c, err := LoadFile("../../docs/examples/agent.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.peers(nil); err != nil {
		t.Fatal(err)
	}
}
