package gwconfig

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vpngw/vpngw/internal/transform"
)

// Instance is a checked Config in typed form: what the agent runs. Check,
// Parse and LoadFile make one; nothing changes it afterwards.
type Instance struct {
	// Config is the configuration with defaults filled in and names in
	// their canonical spelling (what status shows and a reload compares).
	Config
	// Local is LocalAddress.
	Local netip.Addr
	// LocalNets are LocalPrefixes.
	LocalNets []netip.Prefix
	// TunnelAddrs are Tunnel.Addresses.
	TunnelAddrs []netip.Prefix
	// Peers are the Connections in typed form, in the same order.
	Peers []Peer
	// P2S is PointToSite in typed form (nil: no point-to-site).
	P2S *P2S
	// BGP is BgpSettings in typed form (nil: no BGP speaker). Its
	// peering address is among TunnelAddrs.
	BGP *BGP
}

// Peer is one checked connection in typed form.
type Peer struct {
	// Connection is the connection with defaults filled in.
	Connection
	// Remote is RemoteAddress; it is the zero Addr when the connection
	// names RemoteFQDN (resolved by the agent when it starts or reloads)
	// or is ResponderOnly without an address.
	Remote netip.Addr
	// RemoteNets are RemotePrefixes (routed into the tunnel).
	RemoteNets []netip.Prefix
	// LocalNets are the connection's LocalPrefixes, or the gateway's.
	LocalNets []netip.Prefix
	// PSK is SharedKey, or the content of SharedKeyFile (read once, when
	// the configuration is checked).
	PSK []byte
	// DPDTimeout is DPDTimeoutSeconds.
	DPDTimeout time.Duration
	// IKEProposals and ESPProposals come from IpsecPolicy or from
	// IKEProposals/ESPProposals; nil means the defaults.
	IKEProposals, ESPProposals []transform.Proposal
	// ChildLifetime and ChildLifeBytes are IpsecPolicy's SA lifetimes
	// (zero: the defaults).
	ChildLifetime  time.Duration
	ChildLifeBytes uint64
	// ForceEncap is UDPEncapsulation "always" (or rawEsp false).
	ForceEncap bool
	// PolicyBased is set on the connections of a PolicyBased gateway:
	// LocalNets × RemoteNets are the traffic selectors, the tunnel comes
	// up on demand and IdleTimeout takes it down.
	PolicyBased bool
	// IdleTimeout is IdleTimeoutSeconds with its default (zero: never).
	IdleTimeout time.Duration
	// Selectors are TrafficSelectorPolicies, parsed: the Child SAs to
	// propose when initiating (nil: the usual ones).
	Selectors []Selectors
	// BGP is the BGP peer of an enableBgp connection (nil: none).
	BGP *PeerBGP
}

// Selectors are one Child SA's local and remote prefixes.
type Selectors struct {
	Local, Remote []netip.Prefix
}

// LoadFile reads and checks a YAML configuration file.
func LoadFile(path string) (*Instance, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	in, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return in, nil
}

// Parse decodes YAML (or JSON, a subset) strictly, unknown fields are
// errors naming the line, and checks the result.
func Parse(b []byte) (*Instance, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalid, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	return c.Check()
}

// fieldErr builds a configuration error naming the field.
func fieldErr(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalid, field, fmt.Sprintf(format, args...))
}

// Check checks the configuration and returns it in typed form, with
// defaults filled in. c itself is not changed. Errors name the field
// ("connections[1].remotePrefixes[0]") and the rule.
func (c Config) Check() (*Instance, error) {
	c.LocalPrefixes = slices.Clone(c.LocalPrefixes)
	c.Tunnel.Addresses = slices.Clone(c.Tunnel.Addresses)
	c.Connections = slices.Clone(c.Connections)
	in := &Instance{}
	if c.Name == "" {
		h, _ := os.Hostname()
		c.Name = h
	}
	var err error
	if in.Local, err = parseAddr(c.LocalAddress, "localAddress"); err != nil {
		return nil, err
	}
	localNets, err := parsePrefixes(c.LocalPrefixes, "localPrefixes")
	if err != nil {
		return nil, err
	}
	in.LocalNets = localNets
	if c.Tunnel.Device == "" {
		c.Tunnel.Device = "vpngw0"
	}
	if len(c.Tunnel.Device) > 15 {
		return nil, fieldErr("tunnel.device", "%q is longer than 15 bytes (Linux interface names)", c.Tunnel.Device)
	}
	if c.Tunnel.MTU == 0 {
		c.Tunnel.MTU = 1400
	}
	if c.Tunnel.MTU < 576 || c.Tunnel.MTU > 9000 {
		return nil, fieldErr("tunnel.mtu", "%d is outside 576..9000", c.Tunnel.MTU)
	}
	for i, a := range c.Tunnel.Addresses {
		p, err := netip.ParsePrefix(a)
		if err != nil {
			return nil, fieldErr(fmt.Sprintf("tunnel.addresses[%d]", i), "%q is not an address with prefix length (like 10.1.255.254/32)", a)
		}
		in.TunnelAddrs = append(in.TunnelAddrs, p)
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
			return nil, fieldErr(p.name, "%d is not a port", p.v)
		}
	}
	if c.IKEPort == c.NATTPort {
		return nil, fieldErr("nattPort", "must differ from ikePort (%d)", c.IKEPort)
	}
	rawESP := c.RawESP == nil || *c.RawESP
	c.RawESP = &rawESP
	if c.StatusSocket == "" {
		c.StatusSocket = "/run/vpngw/agent-" + c.Name + ".sock"
	}
	switch strings.ToLower(c.VPNType) {
	case "", "routebased":
		c.VPNType = RouteBased
	case "policybased":
		c.VPNType = PolicyBased
		if len(localNets) == 0 {
			return nil, fieldErr("localPrefixes", "a PolicyBased gateway needs its prefixes (they are the traffic selectors)")
		}
		if len(c.Connections) > 1 {
			return nil, fieldErr("connections", "a PolicyBased gateway has one site-to-site tunnel, not %d", len(c.Connections))
		}
	default:
		return nil, fieldErr("vpnType", "%q is not RouteBased or PolicyBased", c.VPNType)
	}
	if c.BgpSettings != nil {
		b := *c.BgpSettings
		if in.BGP, err = checkBGP(&b, c.VPNType); err != nil {
			return nil, err
		}
		c.BgpSettings = &b
		for _, a := range append([]netip.Addr{in.BGP.PeeringAddr}, in.BGP.CustomAddrs...) {
			if !slices.ContainsFunc(in.TunnelAddrs, func(p netip.Prefix) bool { return p.Addr() == a }) {
				in.TunnelAddrs = append(in.TunnelAddrs, netip.PrefixFrom(a, 32))
			}
		}
	}
	if c.ThroughputLimitMbps < 0 {
		return nil, fieldErr("throughputLimitMbps", "%d is negative", c.ThroughputLimitMbps)
	}
	names := map[string]int{}
	routed := map[netip.Prefix]string{}
	for i := range c.Connections {
		cn := &c.Connections[i]
		f := fmt.Sprintf("connections[%d]", i)
		p, err := cn.check(f, rawESP, c.VPNType == PolicyBased, localNets)
		if err != nil {
			return nil, err
		}
		if err := cn.checkBgpPeer(f, in.BGP, &p); err != nil {
			return nil, err
		}
		if j, dup := names[cn.Name]; dup {
			return nil, fieldErr(f+".name", "%q is also the name of connections[%d]", cn.Name, j)
		}
		names[cn.Name] = i
		for j, r := range p.RemoteNets {
			if other, ok := routed[r]; ok {
				return nil, fieldErr(fmt.Sprintf("%s.remotePrefixes[%d]", f, j), "%s is already routed to connection %q", r, other)
			}
			routed[r] = cn.Name
		}
		in.Peers = append(in.Peers, p)
	}
	if err := checkBgpPeers(in.Peers); err != nil {
		return nil, err
	}
	if c.PointToSite != nil {
		ps := *c.PointToSite
		if in.P2S, err = ps.check(localNets, routed, c.VPNType == PolicyBased); err != nil {
			return nil, err
		}
		if j, dup := names[ps.Name]; dup {
			return nil, fieldErr("pointToSite.name", "%q is also the name of connections[%d]", ps.Name, j)
		}
		c.PointToSite = &ps
	}
	in.Config = c
	return in, nil
}

// check checks a connection (filling in its defaults) and returns it in
// typed form; f names it in errors.
func (cn *Connection) check(f string, rawESP, policyBased bool, gatewayNets []netip.Prefix) (Peer, error) {
	var p Peer
	var err error
	if cn.Name == "" {
		return p, fieldErr(f+".name", "is required")
	}
	if strings.ContainsAny(cn.Name, " /\t\n") {
		return p, fieldErr(f+".name", "%q must not contain spaces or slashes", cn.Name)
	}
	switch {
	case cn.RemoteAddress != "" && cn.RemoteFQDN != "":
		return p, fieldErr(f+".remoteFqdn", "give remoteAddress or remoteFqdn, not both")
	case cn.RemoteAddress != "":
		if p.Remote, err = parseAddr(cn.RemoteAddress, f+".remoteAddress"); err != nil {
			return p, err
		}
	case cn.RemoteFQDN != "":
	default:
		if cn.ConnectionMode != "ResponderOnly" {
			return p, fieldErr(f+".remoteAddress", "is required (or remoteFqdn), unless connectionMode is ResponderOnly")
		}
	}
	if len(cn.RemotePrefixes) == 0 && !cn.EnableBgp {
		return p, fieldErr(f+".remotePrefixes", "at least one prefix is required (unless enableBgp: then the peer's prefixes are learned)")
	}
	if p.RemoteNets, err = parsePrefixes(cn.RemotePrefixes, f+".remotePrefixes"); err != nil {
		return p, err
	}
	if p.LocalNets, err = parsePrefixes(cn.LocalPrefixes, f+".localPrefixes"); err != nil {
		return p, err
	}
	if len(p.LocalNets) == 0 {
		p.LocalNets = gatewayNets
	}
	switch {
	case cn.SharedKey != "" && cn.SharedKeyFile != "":
		return p, fieldErr(f+".sharedKeyFile", "give sharedKey or sharedKeyFile, not both")
	case cn.SharedKeyFile != "":
		b, err := os.ReadFile(cn.SharedKeyFile)
		if err != nil {
			return p, fieldErr(f+".sharedKeyFile", "%v", err)
		}
		key := strings.TrimRight(string(b), "\r\n")
		if transform.CheckSharedKey(key) != nil {
			return p, fieldErr(f+".sharedKeyFile", "the key in %s is invalid: printable ASCII except space, '-' and '~', 1 to 128 characters", cn.SharedKeyFile)
		}
		p.PSK = []byte(key)
	case cn.SharedKey == "":
		return p, fieldErr(f+".sharedKey", "is required (or sharedKeyFile)")
	default:
		// Never echo the key in an error.
		if transform.CheckSharedKey(cn.SharedKey) != nil {
			return p, fieldErr(f+".sharedKey", "must be printable ASCII except space, '-' and '~', 1 to 128 characters")
		}
		p.PSK = []byte(cn.SharedKey)
	}
	switch strings.ToLower(cn.ConnectionProtocol) {
	case "":
		cn.ConnectionProtocol = IKEv2
		if policyBased {
			cn.ConnectionProtocol = IKEv1
		}
	case "ikev2":
		cn.ConnectionProtocol = IKEv2
		if policyBased {
			return p, fieldErr(f+".connectionProtocol", "a PolicyBased gateway speaks IKEv1 only")
		}
	case "ikev1":
		cn.ConnectionProtocol = IKEv1
	default:
		return p, fieldErr(f+".connectionProtocol", "%q is not IKEv2 or IKEv1", cn.ConnectionProtocol)
	}
	if err := cn.checkIKEv1(f, policyBased, &p); err != nil {
		return p, err
	}
	switch strings.ToLower(cn.ConnectionMode) {
	case "", "default":
		cn.ConnectionMode = "Default"
	case "initiatoronly":
		cn.ConnectionMode = "InitiatorOnly"
	case "responderonly":
		cn.ConnectionMode = "ResponderOnly"
	default:
		return p, fieldErr(f+".connectionMode", "%q is not Default, InitiatorOnly or ResponderOnly", cn.ConnectionMode)
	}
	if policyBased {
		if cn.DPDTimeoutSeconds != 0 {
			return p, fieldErr(f+".dpdTimeoutSeconds", "a PolicyBased gateway has no dead peer detection")
		}
		// Azure's PolicyBased tunnels have no DPD: the idle timeout ends them.
		p.DPDTimeout = -1
	} else if cn.DPDTimeoutSeconds == 0 {
		cn.DPDTimeoutSeconds = transform.DefaultDpdTimeoutSeconds
	}
	if !policyBased {
		if cn.DPDTimeoutSeconds < transform.MinDpdTimeoutSeconds || cn.DPDTimeoutSeconds > transform.MaxDpdTimeoutSeconds {
			return p, fieldErr(f+".dpdTimeoutSeconds", "%d is outside %d..%d", cn.DPDTimeoutSeconds, transform.MinDpdTimeoutSeconds, transform.MaxDpdTimeoutSeconds)
		}
		p.DPDTimeout = time.Duration(cn.DPDTimeoutSeconds) * time.Second
	}
	if cn.IpsecPolicy != nil {
		if cn.IKEProposals != "" || cn.ESPProposals != "" {
			return p, fieldErr(f+".ipsecPolicy", "give ipsecPolicy or ikeProposals/espProposals, not both")
		}
		ap, err := checkPolicy(cn.IpsecPolicy, f+".ipsecPolicy")
		if err != nil {
			return p, err
		}
		cn.IpsecPolicy = &ap.Policy
		ap.apply(&p.IKEProposals, &p.ESPProposals, &p.ChildLifetime, &p.ChildLifeBytes)
	}
	if cn.IKEProposals != "" {
		if p.IKEProposals, err = transform.ParseProposals(cn.IKEProposals, false); err != nil {
			return p, fieldErr(f+".ikeProposals", "%v", err)
		}
	}
	if cn.ESPProposals != "" {
		if p.ESPProposals, err = transform.ParseProposals(cn.ESPProposals, true); err != nil {
			return p, fieldErr(f+".espProposals", "%v", err)
		}
	}
	switch strings.ToLower(cn.PeerType) {
	case "", "any":
		cn.PeerType = PeerAny
	case PeerVpngw:
		cn.PeerType = PeerVpngw
		if p.IKEProposals == nil {
			p.IKEProposals = transform.VpngwIKEProposals()
		}
		if p.ESPProposals == nil {
			p.ESPProposals = transform.VpngwESPProposals()
		}
	default:
		return p, fieldErr(f+".peerType", "%q is not any or vpngw", cn.PeerType)
	}
	switch strings.ToLower(cn.UDPEncapsulation) {
	case "", "auto":
		cn.UDPEncapsulation = "auto"
	case "always":
		cn.UDPEncapsulation = "always"
	default:
		return p, fieldErr(f+".udpEncapsulation", "%q is not auto or always", cn.UDPEncapsulation)
	}
	if !rawESP {
		cn.UDPEncapsulation = "always"
	}
	p.ForceEncap = cn.UDPEncapsulation == "always"
	if cn.RemotePort == 0 {
		cn.RemotePort = 500
	}
	if cn.RemotePort < 1 || cn.RemotePort > 65535 {
		return p, fieldErr(f+".remotePort", "%d is not a port", cn.RemotePort)
	}
	if cn.UsePolicyBasedTrafficSelectors && len(p.LocalNets) == 0 {
		return p, fieldErr(f+".usePolicyBasedTrafficSelectors", "needs localPrefixes (of the gateway or the connection)")
	}
	if n := len(cn.TrafficSelectorPolicies); n > MaxTrafficSelectorPolicies {
		return p, fieldErr(f+".trafficSelectorPolicies", "%d policies; at most %d", n, MaxTrafficSelectorPolicies)
	}
	for i, ts := range cn.TrafficSelectorPolicies {
		t := fmt.Sprintf("%s.trafficSelectorPolicies[%d]", f, i)
		var s Selectors
		if s.Local, err = parsePrefixes(ts.LocalAddressRanges, t+".localAddressRanges"); err != nil {
			return p, err
		}
		if s.Remote, err = parsePrefixes(ts.RemoteAddressRanges, t+".remoteAddressRanges"); err != nil {
			return p, err
		}
		if len(s.Local) == 0 || len(s.Remote) == 0 {
			return p, fieldErr(t, "needs localAddressRanges and remoteAddressRanges")
		}
		p.Selectors = append(p.Selectors, s)
	}
	cn.LocalPrefixes = slices.Clone(cn.LocalPrefixes)
	cn.RemotePrefixes = slices.Clone(cn.RemotePrefixes)
	p.Connection = *cn
	return p, nil
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

// checkIKEv1 applies the rules of IKEv1 connections and of PolicyBased
// gateways (reference §2.2, §3.2, §3.3) and fills p's PolicyBased and
// IdleTimeout. It runs before the other settings are defaulted, so it sees
// what was given.
func (cn *Connection) checkIKEv1(f string, policyBased bool, p *Peer) error {
	v1 := cn.ConnectionProtocol == IKEv1
	switch {
	case v1 && len(cn.TrafficSelectorPolicies) > 0:
		return fieldErr(f+".trafficSelectorPolicies", "is an IKEv2 setting; IKEv1 connections negotiate their prefixes as Quick Mode IDs")
	case v1 && cn.UsePolicyBasedTrafficSelectors:
		return fieldErr(f+".usePolicyBasedTrafficSelectors", "is an IKEv2 setting; IKEv1 connections negotiate their prefixes as Quick Mode IDs")
	case v1 && strings.EqualFold(cn.PeerType, PeerVpngw):
		return fieldErr(f+".peerType", "vpngw (AES-GCM with elliptic-curve DH) is an IKEv2 suite; IKEv1 peers take Azure's IKEv1 offers")
	case v1 && cn.RemoteAddress == "" && cn.RemoteFQDN == "":
		return fieldErr(f+".remoteAddress", "is required for IKEv1 (the IKEv1 engine matches peers by address)")
	case policyBased && cn.IpsecPolicy != nil:
		return fieldErr(f+".ipsecPolicy", "a PolicyBased gateway takes no custom IPsec/IKE policy")
	case v1 && cn.IpsecPolicy != nil && cn.IpsecPolicy.CheckIKEv1() != nil:
		e := cn.IpsecPolicy.CheckIKEv1()
		return fieldErr(f+".ipsecPolicy."+e.Field, "%s", e.Message)
	case !policyBased && cn.IdleTimeoutSeconds != 0:
		return fieldErr(f+".idleTimeoutSeconds", "applies to PolicyBased gateways only")
	case cn.IdleTimeoutSeconds < 0:
		return fieldErr(f+".idleTimeoutSeconds", "%d is negative", cn.IdleTimeoutSeconds)
	}
	if policyBased {
		p.PolicyBased = true
		if cn.IdleTimeoutSeconds == 0 {
			cn.IdleTimeoutSeconds = DefaultIdleTimeoutSeconds
		}
		p.IdleTimeout = time.Duration(cn.IdleTimeoutSeconds) * time.Second
	}
	return nil
}

// RestartFields names the settings that differ between two configurations
// and that a running instance cannot change in place: the TUN device and
// its MTU, the ports, raw ESP, the local address, the throughput limit and
// the BGP peering and custom BGP addresses (addresses of the TUN device).
// A change of any of them restarts the data plane (the control plane's
// agent does so itself; `vpngw agent --config` refuses the reload). Both
// configurations must be checked (Instance.Config).
func RestartFields(cur, next *Config) []string {
	var out []string
	diff := func(name string, changed bool) {
		if changed {
			out = append(out, name)
		}
	}
	diff("tunnel.device", cur.Tunnel.Device != next.Tunnel.Device)
	diff("tunnel.mtu", cur.Tunnel.MTU != next.Tunnel.MTU)
	diff("ikePort", cur.IKEPort != next.IKEPort)
	diff("nattPort", cur.NATTPort != next.NATTPort)
	diff("rawEsp", (cur.RawESP == nil || *cur.RawESP) != (next.RawESP == nil || *next.RawESP))
	diff("localAddress", cur.LocalAddress != next.LocalAddress)
	diff("throughputLimitMbps", cur.ThroughputLimitMbps != next.ThroughputLimitMbps)
	// The BGP peering address lives on the TUN device, and so do the
	// custom BGP addresses.
	diff("bgpSettings.bgpPeeringAddress", bgpAddr(cur) != bgpAddr(next))
	diff("bgpSettings.customBgpIpAddresses", !slices.Equal(customBgpAddrs(cur), customBgpAddrs(next)))
	return out
}

func customBgpAddrs(c *Config) []string {
	if c.BgpSettings == nil {
		return nil
	}
	return c.BgpSettings.CustomBgpIPAddresses
}

func bgpAddr(c *Config) string {
	if c.BgpSettings == nil {
		return ""
	}
	return c.BgpSettings.BgpPeeringAddress
}

// appliedPolicy is a checked Azure custom IPsec/IKE policy in the form
// the IKE engine takes.
type appliedPolicy struct {
	// Policy is the policy canonicalized (Azure's spellings).
	Policy transform.IpsecPolicy
	// IKE and ESP are the one IKE and the one ESP proposal it allows.
	IKE, ESP []transform.Proposal
	// ChildLifetime and ChildLifeBytes are its SA lifetimes.
	ChildLifetime  time.Duration
	ChildLifeBytes uint64
}

// checkPolicy checks an Azure custom IPsec/IKE policy given at field f
// (errors name f and the broken field) and maps it to proposals and
// lifetimes; in is not modified.
func checkPolicy(in *transform.IpsecPolicy, f string) (appliedPolicy, error) {
	pol := *in
	pol.Canonicalize()
	if errs := pol.Check(); len(errs) > 0 {
		return appliedPolicy{}, fieldErr(f+"."+errs[0].Field, "%s", errs[0].Message)
	}
	ikeP, espP, err := transform.FromAzurePolicy(pol)
	if err != nil {
		return appliedPolicy{}, fieldErr(f, "%v", err)
	}
	return appliedPolicy{
		Policy:         pol,
		IKE:            []transform.Proposal{ikeP},
		ESP:            []transform.Proposal{espP},
		ChildLifetime:  time.Duration(pol.SaLifeTimeSeconds) * time.Second,
		ChildLifeBytes: uint64(pol.SaDataSizeKilobytes) * 1024,
	}, nil
}

// apply stores the policy's proposals and lifetimes in the given fields.
func (ap appliedPolicy) apply(ikeP, espP *[]transform.Proposal, life *time.Duration, bytes *uint64) {
	*ikeP, *espP, *life, *bytes = ap.IKE, ap.ESP, ap.ChildLifetime, ap.ChildLifeBytes
}
