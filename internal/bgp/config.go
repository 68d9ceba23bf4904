package bgp

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/vpngw/vpngw/internal/bgp/bgprules"
)

// Timer and limit defaults (Azure's).
const (
	// DefaultHoldTime and DefaultKeepAlive are the timers Azure recommends
	// (and does not want lowered): hold 180 s, keepalive 60 s.
	DefaultHoldTime  = 180 * time.Second
	DefaultKeepAlive = 60 * time.Second

	// FastHoldTime and FastKeepAlive are the documented fast option: a dead
	// peer is noticed in 9 s instead of 3 minutes. Azure has no BFD and
	// advises against low timers; use them only where both sides agree
	// (tests, a lab, an on-premises router that asks for them).
	FastHoldTime  = 9 * time.Second
	FastKeepAlive = 3 * time.Second

	// DefaultPort is BGP's TCP port.
	DefaultPort = 179

	// DefaultMaxPrefixes is how many prefixes Azure accepts from one peer:
	// the 4,001st tears the session down.
	DefaultMaxPrefixes = 4000

	// DefaultConnectRetry is how long the speaker waits between attempts to
	// open a session to an active (non-passive) neighbor.
	DefaultConnectRetry = 10 * time.Second

	// LocalWeight is the weight Azure reports for the gateway's own routes.
	LocalWeight = 32768
)

// ErrInvalidConfig is wrapped by every Config or Neighbor validation error.
var ErrInvalidConfig = errors.New("invalid BGP configuration")

// ErrDefaultRoute: 0.0.0.0/0 may never be advertised.
var ErrDefaultRoute = errors.New("the default route 0.0.0.0/0 is never advertised")

// Config is the speaker of one gateway instance.
type Config struct {
	// ASN is the gateway's ASN (default bgprules.DefaultASN, 65515).
	ASN uint32
	// RouterID is the BGP identifier (default: ListenAddr).
	RouterID netip.Addr
	// ListenAddr is the instance's BGP peering address (bgpPeeringAddress,
	// or a custom APIPA address): the speaker listens there and opens its
	// sessions from it.
	ListenAddr netip.Addr
	// LocalAddrs are further addresses of the instance (custom APIPA
	// addresses) the speaker listens on, for neighbors whose
	// Neighbor.LocalAddress is one of them.
	LocalAddrs []netip.Addr
	// Port is the TCP port to listen on (default 179).
	Port uint16
	// VNet is the virtual network's address space. Azure's rules are about
	// it: learned prefixes equal to or inside it are refused, and learned
	// prefixes overlapping it are never re-advertised.
	VNet []netip.Prefix
	// Advertise is what the gateway originates: the VNet prefixes and the
	// prefixes of connected sites (local network gateways).
	Advertise []netip.Prefix
	// HoldTime and KeepAlive default to Azure's 180 s and 60 s; see
	// FastHoldTime for the fast option.
	HoldTime, KeepAlive time.Duration
	// ConnectRetry is the pause between connection attempts to active
	// neighbors (default DefaultConnectRetry).
	ConnectRetry time.Duration
	// GracefulRestart announces the graceful restart capability (RFC 4724)
	// to every neighbor, so that peers keep our routes across a restart.
	GracefulRestart bool
	// Logger receives the speaker's and GoBGP's logs (default: discarded).
	Logger *slog.Logger
	// OnRoute, if set, is called for every change of an installed route
	// (the best learned path of a prefix; see Route). Calls come one at a
	// time from one goroutine, in order; OnRoute must not block for long
	// nor call back into the Speaker synchronously.
	OnRoute func(Route)
}

// Neighbor is one BGP peer (an on-premises device of a BGP-enabled
// connection, or another gateway's instance).
type Neighbor struct {
	// Address is the peer's BGP address.
	Address netip.Addr
	// ASN is the peer's ASN.
	ASN uint32
	// Passive: the speaker only listens; the peer initiates. Azure's rule
	// for APIPA peers.
	Passive bool
	// MaxPrefixes is how many prefixes the peer may send (default 4000);
	// one more tears the session down.
	MaxPrefixes int
	// Weight is reported with the routes learned from this peer (Azure's
	// GatewayRoute.weight). Azure reserves routingWeight for ExpressRoute,
	// so it does not take part in best-path selection.
	Weight int
	// Gateway: the peer is another gateway (VNet-to-VNet), whose ASN
	// follows the gateway rules (Azure's default 65515 allowed).
	Gateway bool
	// LocalAddress is our address for this session (Azure's per-connection
	// gatewayCustomBgpIpAddresses): Config.ListenAddr or one of
	// Config.LocalAddrs; zero means ListenAddr.
	LocalAddress netip.Addr
}

// withDefaults returns c with its defaults filled in.
func (c Config) withDefaults() Config {
	if c.ASN == 0 {
		c.ASN = bgprules.DefaultASN
	}
	if !c.RouterID.IsValid() {
		c.RouterID = c.ListenAddr
	}
	if c.Port == 0 {
		c.Port = DefaultPort
	}
	if c.HoldTime == 0 {
		c.HoldTime = DefaultHoldTime
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = DefaultKeepAlive
	}
	if c.ConnectRetry == 0 {
		c.ConnectRetry = DefaultConnectRetry
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.VNet = maskAll(c.VNet)
	c.Advertise = maskAll(c.Advertise)
	return c
}

func maskAll(ps []netip.Prefix) []netip.Prefix {
	out := make([]netip.Prefix, len(ps))
	for i, p := range ps {
		out[i] = p.Masked()
	}
	return out
}

// validate checks a Config after withDefaults.
func (c Config) validate() error {
	if err := bgprules.ValidateGatewayASN(c.ASN); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if !c.ListenAddr.Is4() {
		return fmt.Errorf("%w: listen address %v is not IPv4", ErrInvalidConfig, c.ListenAddr)
	}
	for _, a := range c.LocalAddrs {
		if !a.Is4() {
			return fmt.Errorf("%w: local address %v is not IPv4", ErrInvalidConfig, a)
		}
	}
	if !c.RouterID.Is4() {
		return fmt.Errorf("%w: router ID %v is not IPv4", ErrInvalidConfig, c.RouterID)
	}
	if c.KeepAlive <= 0 || c.HoldTime < 3*time.Second || c.KeepAlive > c.HoldTime/3 {
		return fmt.Errorf("%w: hold time %v and keepalive %v (hold must be at least 3 s and 3 keepalives)", ErrInvalidConfig, c.HoldTime, c.KeepAlive)
	}
	for _, p := range c.VNet {
		if !p.IsValid() || !p.Addr().Is4() {
			return fmt.Errorf("%w: VNet prefix %v is not an IPv4 prefix", ErrInvalidConfig, p)
		}
	}
	return validateAdvertised(c.Advertise)
}

func validateAdvertised(ps []netip.Prefix) error {
	for _, p := range ps {
		if !p.IsValid() || !p.Addr().Is4() {
			return fmt.Errorf("%w: advertised prefix %v is not an IPv4 prefix", ErrInvalidConfig, p)
		}
		if p.Bits() == 0 {
			return fmt.Errorf("%w: %w", ErrInvalidConfig, ErrDefaultRoute)
		}
	}
	return nil
}

// withDefaults returns n with its defaults filled in.
func (n Neighbor) withDefaults() Neighbor {
	if n.MaxPrefixes == 0 {
		n.MaxPrefixes = DefaultMaxPrefixes
	}
	return n
}

// Validate checks a neighbor of a gateway whose ASN is gatewayASN.
func (n Neighbor) Validate(gatewayASN uint32) error {
	if !n.Address.Is4() {
		return fmt.Errorf("%w: neighbor address %v is not IPv4", ErrInvalidConfig, n.Address)
	}
	validate := bgprules.ValidatePeerASN
	if n.Gateway {
		validate = bgprules.ValidateGatewayPeerASN
	}
	if err := validate(n.ASN, gatewayASN); err != nil {
		return fmt.Errorf("%w: neighbor %v: %w", ErrInvalidConfig, n.Address, err)
	}
	if n.MaxPrefixes < 0 {
		return fmt.Errorf("%w: neighbor %v: negative max prefixes", ErrInvalidConfig, n.Address)
	}
	return nil
}
