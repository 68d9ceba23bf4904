package agent

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vpngw/vpngw/internal/ike"
	"github.com/vpngw/vpngw/internal/resource"
	"github.com/vpngw/vpngw/internal/transform"
)

// Config is one gateway instance's configuration: what `vpngw agent
// --config FILE` reads (YAML) and what the control plane sends (JSON, the
// same field names). Field names follow Azure's resource properties where
// one exists. See docs/agent.md for the reference with examples.
type Config struct {
	// Name identifies the instance in logs and status (default: the host name).
	Name string `yaml:"name" json:"name"`
	// LocalAddress is the gateway's public address: the source of IKE and
	// ESP and the default IKE identity.
	LocalAddress string `yaml:"localAddress" json:"localAddress"`
	// LocalPrefixes are the networks behind the gateway (the virtual
	// network's address space). Policy-based connections use them as
	// traffic selectors; route-based ones offer 0.0.0.0/0.
	LocalPrefixes []string `yaml:"localPrefixes" json:"localPrefixes,omitempty"`
	// Tunnel configures the TUN device.
	Tunnel TunnelConfig `yaml:"tunnel" json:"tunnel"`
	// IKEPort and NATTPort are the UDP ports (defaults 500 and 4500).
	IKEPort  int `yaml:"ikePort" json:"ikePort,omitempty"`
	NATTPort int `yaml:"nattPort" json:"nattPort,omitempty"`
	// RawESP enables ESP as IP protocol 50 when no NAT is in the way
	// (default true); without it every tunnel uses UDP encapsulation.
	RawESP *bool `yaml:"rawEsp" json:"rawEsp,omitempty"`
	// StatusSocket is the Unix socket of the status endpoint (default
	// /run/vpngw/agent-NAME.sock).
	StatusSocket string `yaml:"statusSocket" json:"statusSocket,omitempty"`
	// ThroughputLimitMbps caps the gateway's aggregate throughput, shared
	// fairly by its tunnels (0: no cap). The control plane sets it from the
	// SKU.
	ThroughputLimitMbps int `yaml:"throughputLimitMbps" json:"throughputLimitMbps,omitempty"`
	// Connections are the site-to-site and VNet-to-VNet tunnels.
	Connections []Connection `yaml:"connections" json:"connections"`
}

// TunnelConfig configures the TUN device that carries tunnelled traffic.
type TunnelConfig struct {
	// Device is the TUN device name (default vpngw0).
	Device string `yaml:"device" json:"device,omitempty"`
	// MTU is the TUN MTU (default 1400, Azure's guidance; see docs/dataplane.md).
	MTU int `yaml:"mtu" json:"mtu,omitempty"`
	// Addresses are assigned to the TUN device (optional).
	Addresses []string `yaml:"addresses" json:"addresses,omitempty"`
}

// Connection is one tunnel to a peer gateway.
type Connection struct {
	// Name identifies the connection (unique).
	Name string `yaml:"name" json:"name"`
	// RemoteAddress is the peer's public address (the local network
	// gateway's gatewayIpAddress); or give RemoteFQDN.
	RemoteAddress string `yaml:"remoteAddress" json:"remoteAddress,omitempty"`
	// RemoteFQDN is resolved when the configuration is loaded.
	RemoteFQDN string `yaml:"remoteFqdn" json:"remoteFqdn,omitempty"`
	// RemotePrefixes are the peer's networks, routed into the tunnel.
	RemotePrefixes []string `yaml:"remotePrefixes" json:"remotePrefixes"`
	// LocalPrefixes override the gateway's LocalPrefixes for this
	// connection's traffic selectors.
	LocalPrefixes []string `yaml:"localPrefixes" json:"localPrefixes,omitempty"`
	// SharedKey is the pre-shared key; or SharedKeyFile holds it.
	SharedKey     string `yaml:"sharedKey" json:"sharedKey,omitempty"`
	SharedKeyFile string `yaml:"sharedKeyFile" json:"sharedKeyFile,omitempty"`
	// ConnectionProtocol is IKEv2 (default). IKEv1 is not supported yet.
	ConnectionProtocol string `yaml:"connectionProtocol" json:"connectionProtocol,omitempty"`
	// ConnectionMode is Default, InitiatorOnly or ResponderOnly.
	ConnectionMode string `yaml:"connectionMode" json:"connectionMode,omitempty"`
	// DPDTimeoutSeconds is the dead peer detection timeout, 9–3600
	// (default 45).
	DPDTimeoutSeconds int `yaml:"dpdTimeoutSeconds" json:"dpdTimeoutSeconds,omitempty"`
	// UsePolicyBasedTrafficSelectors negotiates one Child SA per local ×
	// remote prefix instead of 0.0.0.0/0 ↔ 0.0.0.0/0.
	UsePolicyBasedTrafficSelectors bool `yaml:"usePolicyBasedTrafficSelectors" json:"usePolicyBasedTrafficSelectors,omitempty"`
	// IpsecPolicy is an Azure custom IPsec/IKE policy (all eight fields).
	IpsecPolicy *IpsecPolicy `yaml:"ipsecPolicy" json:"ipsecPolicy,omitempty"`
	// IKEProposals and ESPProposals give proposals in strongSwan syntax
	// ("aes256gcm16-prfsha256-ecp256,aes256-sha256-modp2048") instead of an
	// ipsecPolicy (a vpngw extension).
	IKEProposals string `yaml:"ikeProposals" json:"ikeProposals,omitempty"`
	ESPProposals string `yaml:"espProposals" json:"espProposals,omitempty"`
	// LocalID and RemoteID are IKE identities: an IP address or a name
	// (FQDN). Default: our address; any identity from the peer.
	LocalID  string `yaml:"localId" json:"localId,omitempty"`
	RemoteID string `yaml:"remoteId" json:"remoteId,omitempty"`
	// UDPEncapsulation is "auto" (default: when a NAT is detected) or
	// "always".
	UDPEncapsulation string `yaml:"udpEncapsulation" json:"udpEncapsulation,omitempty"`
	// RemotePort is the peer's IKE port (default 500).
	RemotePort int `yaml:"remotePort" json:"remotePort,omitempty"`
}

// IpsecPolicy is an Azure custom IPsec/IKE policy, with the names and
// rules of a connection's ipsecPolicies entry (resource.IpsecPolicy).
type IpsecPolicy struct {
	SaLifeTimeSeconds   int    `yaml:"saLifeTimeSeconds" json:"saLifeTimeSeconds"`
	SaDataSizeKilobytes int64  `yaml:"saDataSizeKilobytes" json:"saDataSizeKilobytes"`
	IpsecEncryption     string `yaml:"ipsecEncryption" json:"ipsecEncryption"`
	IpsecIntegrity      string `yaml:"ipsecIntegrity" json:"ipsecIntegrity"`
	IkeEncryption       string `yaml:"ikeEncryption" json:"ikeEncryption"`
	IkeIntegrity        string `yaml:"ikeIntegrity" json:"ikeIntegrity"`
	DhGroup             string `yaml:"dhGroup" json:"dhGroup"`
	PfsGroup            string `yaml:"pfsGroup" json:"pfsGroup"`
}

func (p *IpsecPolicy) resource() *resource.IpsecPolicy {
	r := resource.IpsecPolicy(*p)
	return &r
}

// ErrInvalid is wrapped by every configuration error; the message names the
// field and the rule.
var ErrInvalid = errors.New("invalid agent configuration")

// LoadFile reads and checks a YAML configuration file.
func LoadFile(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	c, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Parse decodes YAML (or JSON, a subset) strictly: unknown fields are
// errors naming the line. It does not validate; call Validate.
func Parse(b []byte) (*Config, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalid, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// fieldErr builds a configuration error naming the field.
func fieldErr(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalid, field, fmt.Sprintf(format, args...))
}

// Validate checks the configuration and fills in defaults. Errors name the
// field ("connections[1].remotePrefixes[0]") and the rule.
func (c *Config) Validate() error {
	if c.Name == "" {
		h, _ := os.Hostname()
		c.Name = h
	}
	if _, err := parseAddr(c.LocalAddress, "localAddress"); err != nil {
		return err
	}
	if _, err := parsePrefixes(c.LocalPrefixes, "localPrefixes"); err != nil {
		return err
	}
	if c.Tunnel.Device == "" {
		c.Tunnel.Device = "vpngw0"
	}
	if len(c.Tunnel.Device) > 15 {
		return fieldErr("tunnel.device", "%q is longer than 15 bytes (Linux interface names)", c.Tunnel.Device)
	}
	if c.Tunnel.MTU == 0 {
		c.Tunnel.MTU = 1400
	}
	if c.Tunnel.MTU < 576 || c.Tunnel.MTU > 9000 {
		return fieldErr("tunnel.mtu", "%d is outside 576..9000", c.Tunnel.MTU)
	}
	for i, a := range c.Tunnel.Addresses {
		if _, err := netip.ParsePrefix(a); err != nil {
			return fieldErr(fmt.Sprintf("tunnel.addresses[%d]", i), "%q is not an address with prefix length (like 10.1.255.254/32)", a)
		}
	}
	if c.IKEPort == 0 {
		c.IKEPort = 500
	}
	if c.NATTPort == 0 {
		c.NATTPort = 4500
	}
	for _, p := range []struct {
		name string
		v    int
	}{{"ikePort", c.IKEPort}, {"nattPort", c.NATTPort}} {
		if p.v < 1 || p.v > 65535 {
			return fieldErr(p.name, "%d is not a port", p.v)
		}
	}
	if c.IKEPort == c.NATTPort {
		return fieldErr("nattPort", "must differ from ikePort (%d)", c.IKEPort)
	}
	if c.RawESP == nil {
		t := true
		c.RawESP = &t
	}
	if c.StatusSocket == "" {
		c.StatusSocket = "/run/vpngw/agent-" + c.Name + ".sock"
	}
	if c.ThroughputLimitMbps < 0 {
		return fieldErr("throughputLimitMbps", "%d is negative", c.ThroughputLimitMbps)
	}
	names := map[string]int{}
	routed := map[netip.Prefix]string{}
	for i := range c.Connections {
		cn := &c.Connections[i]
		f := fmt.Sprintf("connections[%d]", i)
		if err := cn.validate(f, c); err != nil {
			return err
		}
		if j, dup := names[cn.Name]; dup {
			return fieldErr(f+".name", "%q is also the name of connections[%d]", cn.Name, j)
		}
		names[cn.Name] = i
		ps, _ := parsePrefixes(cn.RemotePrefixes, "")
		for j, p := range ps {
			if other, ok := routed[p]; ok {
				return fieldErr(fmt.Sprintf("%s.remotePrefixes[%d]", f, j), "%s is already routed to connection %q", p, other)
			}
			routed[p] = cn.Name
		}
	}
	return nil
}

func (cn *Connection) validate(f string, c *Config) error {
	if cn.Name == "" {
		return fieldErr(f+".name", "is required")
	}
	if strings.ContainsAny(cn.Name, " /\t\n") {
		return fieldErr(f+".name", "%q must not contain spaces or slashes", cn.Name)
	}
	switch {
	case cn.RemoteAddress != "" && cn.RemoteFQDN != "":
		return fieldErr(f+".remoteFqdn", "give remoteAddress or remoteFqdn, not both")
	case cn.RemoteAddress != "":
		if _, err := parseAddr(cn.RemoteAddress, f+".remoteAddress"); err != nil {
			return err
		}
	case cn.RemoteFQDN != "":
	default:
		if cn.ConnectionMode != "ResponderOnly" {
			return fieldErr(f+".remoteAddress", "is required (or remoteFqdn), unless connectionMode is ResponderOnly")
		}
	}
	if len(cn.RemotePrefixes) == 0 {
		return fieldErr(f+".remotePrefixes", "at least one prefix is required")
	}
	if _, err := parsePrefixes(cn.RemotePrefixes, f+".remotePrefixes"); err != nil {
		return err
	}
	if _, err := parsePrefixes(cn.LocalPrefixes, f+".localPrefixes"); err != nil {
		return err
	}
	switch {
	case cn.SharedKey != "" && cn.SharedKeyFile != "":
		return fieldErr(f+".sharedKeyFile", "give sharedKey or sharedKeyFile, not both")
	case cn.SharedKeyFile != "":
		b, err := os.ReadFile(cn.SharedKeyFile)
		if err != nil {
			return fieldErr(f+".sharedKeyFile", "%v", err)
		}
		if err := resource.ValidateSharedKey(strings.TrimRight(string(b), "\r\n"), ""); err != nil {
			return fieldErr(f+".sharedKeyFile", "the key in %s is invalid: printable ASCII except space, '-' and '~', 1 to 128 characters", cn.SharedKeyFile)
		}
	case cn.SharedKey == "":
		return fieldErr(f+".sharedKey", "is required (or sharedKeyFile)")
	default:
		// Never echo the key in an error.
		if err := resource.ValidateSharedKey(cn.SharedKey, ""); err != nil {
			return fieldErr(f+".sharedKey", "must be printable ASCII except space, '-' and '~', 1 to 128 characters")
		}
	}
	switch cn.ConnectionProtocol {
	case "", "IKEv2", "ikev2":
		cn.ConnectionProtocol = "IKEv2"
	case "IKEv1", "ikev1":
		return fieldErr(f+".connectionProtocol", "IKEv1 is not supported yet; use IKEv2")
	default:
		return fieldErr(f+".connectionProtocol", "%q is not IKEv2 or IKEv1", cn.ConnectionProtocol)
	}
	switch strings.ToLower(cn.ConnectionMode) {
	case "", "default":
		cn.ConnectionMode = "Default"
	case "initiatoronly":
		cn.ConnectionMode = "InitiatorOnly"
	case "responderonly":
		cn.ConnectionMode = "ResponderOnly"
	default:
		return fieldErr(f+".connectionMode", "%q is not Default, InitiatorOnly or ResponderOnly", cn.ConnectionMode)
	}
	if cn.DPDTimeoutSeconds == 0 {
		cn.DPDTimeoutSeconds = 45
	}
	if cn.DPDTimeoutSeconds < 9 || cn.DPDTimeoutSeconds > 3600 {
		return fieldErr(f+".dpdTimeoutSeconds", "%d is outside 9..3600", cn.DPDTimeoutSeconds)
	}
	if cn.IpsecPolicy != nil {
		if cn.IKEProposals != "" || cn.ESPProposals != "" {
			return fieldErr(f+".ipsecPolicy", "give ipsecPolicy or ikeProposals/espProposals, not both")
		}
		rp := cn.IpsecPolicy.resource()
		err := resource.ValidateIpsecPolicy(rp, f+".ipsecPolicy")
		*cn.IpsecPolicy = IpsecPolicy(*rp) // canonical spelling
		if err != nil {
			if e, ok := resource.AsError(err); ok {
				return fieldErr(e.Target, "%s", e.Message)
			}
			return fieldErr(f+".ipsecPolicy", "%v", err)
		}
		if _, _, err := transform.FromAzurePolicy(azurePolicy(cn.IpsecPolicy)); err != nil {
			return fieldErr(f+".ipsecPolicy", "%v", err)
		}
	}
	if cn.IKEProposals != "" {
		if _, err := transform.ParseProposals(cn.IKEProposals, false); err != nil {
			return fieldErr(f+".ikeProposals", "%v", err)
		}
	}
	if cn.ESPProposals != "" {
		if _, err := transform.ParseProposals(cn.ESPProposals, true); err != nil {
			return fieldErr(f+".espProposals", "%v", err)
		}
	}
	switch strings.ToLower(cn.UDPEncapsulation) {
	case "", "auto":
		cn.UDPEncapsulation = "auto"
	case "always":
		cn.UDPEncapsulation = "always"
	default:
		return fieldErr(f+".udpEncapsulation", "%q is not auto or always", cn.UDPEncapsulation)
	}
	if !*c.RawESP {
		cn.UDPEncapsulation = "always"
	}
	if cn.RemotePort == 0 {
		cn.RemotePort = 500
	}
	if cn.RemotePort < 1 || cn.RemotePort > 65535 {
		return fieldErr(f+".remotePort", "%d is not a port", cn.RemotePort)
	}
	if cn.UsePolicyBasedTrafficSelectors && len(cn.localPrefixes(c)) == 0 {
		return fieldErr(f+".usePolicyBasedTrafficSelectors", "needs localPrefixes (of the gateway or the connection)")
	}
	return nil
}

func (cn *Connection) localPrefixes(c *Config) []string {
	if len(cn.LocalPrefixes) > 0 {
		return cn.LocalPrefixes
	}
	return c.LocalPrefixes
}

func parseAddr(s, field string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, fieldErr(field, "is required")
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, fieldErr(field, "%q is not an IP address", s)
	}
	if a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() {
		return netip.Addr{}, fieldErr(field, "%s is not a unicast address", a)
	}
	return a.Unmap(), nil
}

func parsePrefixes(list []string, field string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for i, s := range list {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fieldErr(fmt.Sprintf("%s[%d]", field, i), "%q is not a CIDR prefix", s)
		}
		if p.Masked() != p {
			return nil, fieldErr(fmt.Sprintf("%s[%d]", field, i), "%q has host bits set; did you mean %s?", s, p.Masked())
		}
		out = append(out, p)
	}
	return out, nil
}

func azurePolicy(p *IpsecPolicy) transform.AzurePolicy {
	return transform.AzurePolicy{
		IkeEncryption: p.IkeEncryption, IkeIntegrity: p.IkeIntegrity, DhGroup: p.DhGroup,
		IpsecEncryption: p.IpsecEncryption, IpsecIntegrity: p.IpsecIntegrity, PfsGroup: p.PfsGroup,
		SALifeTimeSeconds: int64(p.SaLifeTimeSeconds), SADataSizeKilobytes: p.SaDataSizeKilobytes,
	}
}

func identity(s string) ike.Identity {
	if s == "" {
		return ike.Identity{}
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return ike.IPIdentity(a)
	}
	return ike.FQDNIdentity(strings.TrimPrefix(s, "@"))
}

// resolver looks up FQDNs (a variable in tests only through Peers'
// argument).
type resolver func(host string) ([]string, error)

// peers converts the configuration into IKE peers and data plane tunnels.
func (c *Config) peers(lookup resolver) ([]ike.Peer, error) {
	if lookup == nil {
		lookup = net.LookupHost
	}
	local, _ := parseAddr(c.LocalAddress, "localAddress")
	var out []ike.Peer
	for i, cn := range c.Connections {
		f := fmt.Sprintf("connections[%d]", i)
		p := ike.Peer{
			Name:       cn.Name,
			Local:      local,
			LocalID:    identity(cn.LocalID),
			RemoteID:   identity(cn.RemoteID),
			DPDTimeout: time.Duration(cn.DPDTimeoutSeconds) * time.Second,
			ForceEncap: cn.UDPEncapsulation == "always",
			Port:       uint16(cn.RemotePort),
		}
		switch {
		case cn.RemoteAddress != "":
			p.Remote, _ = parseAddr(cn.RemoteAddress, "")
		case cn.RemoteFQDN != "":
			addrs, err := lookup(cn.RemoteFQDN)
			if err != nil || len(addrs) == 0 {
				return nil, fieldErr(f+".remoteFqdn", "cannot resolve %q: %v", cn.RemoteFQDN, err)
			}
			a, err := netip.ParseAddr(addrs[0])
			if err != nil {
				return nil, fieldErr(f+".remoteFqdn", "%q resolved to %q", cn.RemoteFQDN, addrs[0])
			}
			p.Remote = a.Unmap()
		}
		key := cn.SharedKey
		if cn.SharedKeyFile != "" {
			b, err := os.ReadFile(cn.SharedKeyFile)
			if err != nil {
				return nil, fieldErr(f+".sharedKeyFile", "%v", err)
			}
			key = strings.TrimRight(string(b), "\r\n")
		}
		p.PSK = []byte(key)
		switch cn.ConnectionMode {
		case "InitiatorOnly":
			p.Mode = ike.ModeInitiatorOnly
		case "ResponderOnly":
			p.Mode = ike.ModeResponderOnly
		}
		if cn.IpsecPolicy != nil {
			ikeP, espP, err := transform.FromAzurePolicy(azurePolicy(cn.IpsecPolicy))
			if err != nil {
				return nil, fieldErr(f+".ipsecPolicy", "%v", err)
			}
			p.IKEProposals = []transform.Proposal{ikeP}
			p.ESPProposals = []transform.Proposal{espP}
			p.ChildLifetime = time.Duration(cn.IpsecPolicy.SaLifeTimeSeconds) * time.Second
			p.ChildLifeBytes = uint64(cn.IpsecPolicy.SaDataSizeKilobytes) * 1024
		}
		if cn.IKEProposals != "" {
			p.IKEProposals, _ = transform.ParseProposals(cn.IKEProposals, false)
		}
		if cn.ESPProposals != "" {
			p.ESPProposals, _ = transform.ParseProposals(cn.ESPProposals, true)
		}
		remote, _ := parsePrefixes(cn.RemotePrefixes, "")
		if cn.UsePolicyBasedTrafficSelectors {
			p.PolicyBased = true
			p.LocalTS, _ = parsePrefixes(cn.localPrefixes(c), "")
			p.RemoteTS = remote
		} else {
			// Route-based: any-to-any, the routing table picks the tunnel.
			// As responder we accept what the peer proposes.
			p.LocalTS = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}
			p.RemoteTS = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}
		}
		out = append(out, p)
	}
	return out, nil
}
