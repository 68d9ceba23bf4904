package gwconfig

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/transform"
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
		{"bad protocol", baseConfig + "    connectionProtocol: IKEv3\n", `connections[0].connectionProtocol: "IKEv3" is not IKEv2 or IKEv1`},
		{"ikev1 with policy-based selectors", baseConfig + "    connectionProtocol: IKEv1\n    usePolicyBasedTrafficSelectors: true\n", "connections[0].usePolicyBasedTrafficSelectors: is an IKEv2 setting"},
		{"ikev1 with traffic selector policies", baseConfig + "    connectionProtocol: IKEv1\n    trafficSelectorPolicies: [{localAddressRanges: [10.1.0.0/16], remoteAddressRanges: [10.2.0.0/16]}]\n", "connections[0].trafficSelectorPolicies: is an IKEv2 setting"},
		{"traffic selector policy bad prefix", baseConfig + "    trafficSelectorPolicies: [{localAddressRanges: [10.1.0.0/16], remoteAddressRanges: [10.2.0.1/16]}]\n", "connections[0].trafficSelectorPolicies[0].remoteAddressRanges[0]: \"10.2.0.1/16\" has host bits set"},
		{"traffic selector policy without remote", baseConfig + "    trafficSelectorPolicies: [{localAddressRanges: [10.1.0.0/16]}]\n", "connections[0].trafficSelectorPolicies[0]: needs localAddressRanges and remoteAddressRanges"},
		{"ikev1 with vpngw suites", baseConfig + "    connectionProtocol: IKEv1\n    peerType: vpngw\n", "connections[0].peerType: vpngw"},
		{"ikev1 without address", strings.Replace(baseConfig, "remoteAddress: 192.0.2.2", "", 1) + "    connectionProtocol: IKEv1\n    connectionMode: ResponderOnly\n", "connections[0].remoteAddress: is required for IKEv1"},
		{"ikev1 with GCM IKE", baseConfig + "    connectionProtocol: IKEv1\n    ipsecPolicy: {ikeEncryption: GCMAES256, ikeIntegrity: GCMAES256, dhGroup: DHGroup14, ipsecEncryption: AES256, ipsecIntegrity: SHA256, pfsGroup: None, saLifeTimeSeconds: 3600, saDataSizeKilobytes: 102400}\n", "connections[0].ipsecPolicy.ikeEncryption: ikeEncryption GCMAES256 is not available with IKEv1"},
		{"bad vpn type", baseConfig + "vpnType: Hybrid\n", `vpnType: "Hybrid" is not RouteBased or PolicyBased`},
		{"policy-based with IKEv2", baseConfig + "    connectionProtocol: IKEv2\nvpnType: PolicyBased\n", "connections[0].connectionProtocol: a PolicyBased gateway speaks IKEv1 only"},
		{"policy-based without prefixes", strings.Replace(baseConfig, "localPrefixes: [10.1.0.0/16]", "", 1) + "vpnType: PolicyBased\n", "localPrefixes: a PolicyBased gateway needs its prefixes"},
		{"policy-based two tunnels", baseConfig + "  - name: c2\n    remoteAddress: 192.0.2.3\n    remotePrefixes: [10.3.0.0/16]\n    sharedKey: x\nvpnType: PolicyBased\n", "connections: a PolicyBased gateway has one site-to-site tunnel, not 2"},
		{"policy-based custom policy", baseConfig + "    ipsecPolicy: {ikeEncryption: AES256, ikeIntegrity: SHA256, dhGroup: DHGroup14, ipsecEncryption: AES256, ipsecIntegrity: SHA256, pfsGroup: None, saLifeTimeSeconds: 3600, saDataSizeKilobytes: 102400}\nvpnType: PolicyBased\n", "connections[0].ipsecPolicy: a PolicyBased gateway takes no custom IPsec/IKE policy"},
		{"policy-based DPD", baseConfig + "    dpdTimeoutSeconds: 45\nvpnType: PolicyBased\n", "connections[0].dpdTimeoutSeconds: a PolicyBased gateway has no dead peer detection"},
		{"idle timeout on route-based", baseConfig + "    idleTimeoutSeconds: 10\n", "connections[0].idleTimeoutSeconds: applies to PolicyBased gateways only"},
		{"negative idle timeout", baseConfig + "    idleTimeoutSeconds: -1\nvpnType: PolicyBased\n", "connections[0].idleTimeoutSeconds: -1 is negative"},
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
		{"peer type", baseConfig + "    peerType: cisco\n", `connections[0].peerType: "cisco" is not any or vpngw`},
	} {
		t.Run(tc.name, func(t *testing.T) { refused(t, tc.yaml, tc.want, "abc-123") })
	}
}

// refused checks that Parse refuses a configuration with an error that
// wraps ErrInvalid, contains want and none of the secrets.
func refused(t *testing.T, yaml, want string, secrets ...string) {
	t.Helper()
	_, err := Parse([]byte(yaml))
	if err == nil {
		t.Fatal("accepted")
	}
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("error does not wrap ErrInvalid: %v", err)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not contain %q", err, want)
	}
	for _, sec := range secrets {
		if strings.Contains(err.Error(), sec) {
			t.Fatalf("error echoes the secret %q", sec)
		}
	}
}

func TestConfigDefaultsAndTypedValues(t *testing.T) {
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
	p := c.Peers[0]
	if p.Connection.IpsecPolicy.IkeEncryption != "AES256" || c.Local.String() != "192.0.2.1" || p.Remote.String() != "192.0.2.2" ||
		string(p.PSK) != "abc123" || p.DPDTimeout.Seconds() != 45 || p.ChildLifetime.Seconds() != 3600 || p.ChildLifeBytes != 102400*1024 ||
		len(p.IKEProposals) != 1 || p.IKEProposals[0].String() != "aes256-sha256-prfsha256-modp2048" ||
		len(p.ESPProposals) != 1 || p.ESPProposals[0].String() != "aes256gcm16-modp2048" ||
		len(p.RemoteNets) != 1 || p.RemoteNets[0].String() != "10.2.0.0/16" || len(p.LocalNets) != 1 || p.LocalNets[0].String() != "10.1.0.0/16" || p.ForceEncap {
		t.Fatalf("peer: %+v ike=%v esp=%v", p, p.IKEProposals, p.ESPProposals)
	}
}

// peerType vpngw: the suite vpngw uses between its own gateways, unless a
// policy or explicit proposals say otherwise; the default is Azure's lists.
func TestPeerTypeVpngwProposals(t *testing.T) {
	for _, tc := range []struct{ extra, ike, esp string }{
		{"", "", ""},
		{"    peerType: vpngw\n", "aes256gcm16-aes128gcm16-prfsha256-prfsha384-ecp256-ecp384-curve25519", "aes256gcm16-aes128gcm16-ecp256-ecp384-curve25519"},
		{"    peerType: vpngw\n    ikeProposals: aes256-sha256-modp2048\n", "aes256-sha256-prfsha256-modp2048", "aes256gcm16-aes128gcm16-ecp256-ecp384-curve25519"},
	} {
		c, err := Parse([]byte(baseConfig + tc.extra))
		if err != nil {
			t.Fatal(err)
		}
		p := c.Peers[0]
		if got := transform.FormatProposals(p.IKEProposals); got != tc.ike {
			t.Errorf("%q: IKE proposals %q, want %q", tc.extra, got, tc.ike)
		}
		if got := transform.FormatProposals(p.ESPProposals); got != tc.esp {
			t.Errorf("%q: ESP proposals %q, want %q", tc.extra, got, tc.esp)
		}
	}
}

func TestConfigSharedKeyFile(t *testing.T) {
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
	// The key is read once, when the configuration is checked.
	if err := os.Remove(key); err != nil {
		t.Fatal(err)
	}
	if string(c.Peers[0].PSK) != "fromFile42" || c.Peers[0].Remote.IsValid() || c.Peers[0].RemoteFQDN != "vpn.example.test" {
		t.Fatalf("%+v", c.Peers[0])
	}
}

// Check works on a copy: the caller's Config (an assignment the control
// plane sent, say) keeps its own spelling.
func TestCheckLeavesConfigAlone(t *testing.T) {
	c := Config{LocalAddress: "192.0.2.1", Connections: []Connection{{Name: "c1", RemoteAddress: "192.0.2.2", RemotePrefixes: []string{"10.2.0.0/16"},
		SharedKey: "k", ConnectionMode: "initiatoronly", IpsecPolicy: &transform.IpsecPolicy{IkeEncryption: "aes256", IkeIntegrity: "sha256", DhGroup: "dhgroup14",
			IpsecEncryption: "aes256", IpsecIntegrity: "sha256", PfsGroup: "none", SaLifeTimeSeconds: 3600, SaDataSizeKilobytes: 102400}}}}
	in, err := c.Check()
	if err != nil {
		t.Fatal(err)
	}
	if in.Connections[0].ConnectionMode != "InitiatorOnly" || in.Connections[0].IpsecPolicy.IkeEncryption != "AES256" {
		t.Fatalf("not canonical: %+v", in.Connections[0])
	}
	if c.Connections[0].ConnectionMode != "initiatoronly" || c.Connections[0].IpsecPolicy.IkeEncryption != "aes256" || c.Tunnel.MTU != 0 {
		t.Fatalf("Check changed its input: %+v", c)
	}
}

func TestRestartFields(t *testing.T) {
	cur, err := Parse([]byte(baseConfig))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		extra string
		want  string
	}{
		{"", ""},
		{"tunnel: {mtu: 1300}\n", "tunnel.mtu"},
		{"tunnel: {device: vpngw1}\n", "tunnel.device"},
		{"ikePort: 1500\nnattPort: 1501\n", "ikePort,nattPort"},
		{"rawEsp: false\n", "rawEsp"},
		{"throughputLimitMbps: 650\n", "throughputLimitMbps"},
	} {
		next, err := Parse([]byte(baseConfig + tc.extra))
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(RestartFields(&cur.Config, &next.Config), ","); got != tc.want {
			t.Errorf("%q: RestartFields = %q, want %q", tc.extra, got, tc.want)
		}
	}
	next, _ := Parse([]byte(strings.Replace(baseConfig, "192.0.2.1", "192.0.2.9", 1)))
	if got := RestartFields(&cur.Config, &next.Config); len(got) != 1 || got[0] != "localAddress" {
		t.Errorf("local address: %v", got)
	}
}

func TestExampleConfigIsValid(t *testing.T) {
	if _, err := LoadFile("../../docs/examples/agent.yaml"); err != nil {
		t.Fatal(err)
	}
}

func TestPolicyBasedAndIKEv1(t *testing.T) {
	for _, tc := range []struct {
		name, yaml  string
		proto       string
		policyBased bool
		idle, dpd   time.Duration
	}{
		{"route-based IKEv1", baseConfig + "    connectionProtocol: ikev1\n", IKEv1, false, 0, 45 * time.Second},
		{"route-based default", baseConfig, IKEv2, false, 0, 45 * time.Second},
		{"policy-based defaults", baseConfig + "vpnType: policybased\n", IKEv1, true, 300 * time.Second, -1},
		{"policy-based test idle timeout", baseConfig + "    idleTimeoutSeconds: 5\nvpnType: PolicyBased\n", IKEv1, true, 5 * time.Second, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, err := Parse([]byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			p := in.Peers[0]
			if p.ConnectionProtocol != tc.proto || p.PolicyBased != tc.policyBased || p.IdleTimeout != tc.idle || p.DPDTimeout != tc.dpd {
				t.Errorf("protocol %s, policyBased %v, idle %v, dpd %v; want %s, %v, %v, %v",
					p.ConnectionProtocol, p.PolicyBased, p.IdleTimeout, p.DPDTimeout, tc.proto, tc.policyBased, tc.idle, tc.dpd)
			}
		})
	}
}
