package ike

import (
	"crypto"
	"crypto/sha1"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"time"

	"github.com/vpngw/vpngw/internal/ike/message"
	"github.com/vpngw/vpngw/internal/p2s/mschapv2"
	"github.com/vpngw/vpngw/internal/p2s/pki"
	"github.com/vpngw/vpngw/internal/p2s/pool"
	"github.com/vpngw/vpngw/internal/transform"
)

// Mode says which side may start IKE negotiations for a peer, as the
// connectionMode of an Azure connection.
type Mode uint8

// Connection modes.
const (
	// ModeDefault initiates and responds.
	ModeDefault Mode = iota
	// ModeInitiatorOnly initiates and ignores IKE_SA_INIT from the peer.
	ModeInitiatorOnly
	// ModeResponderOnly never initiates.
	ModeResponderOnly
)

func (m Mode) String() string {
	switch m {
	case ModeInitiatorOnly:
		return "InitiatorOnly"
	case ModeResponderOnly:
		return "ResponderOnly"
	default:
		return "Default"
	}
}

// RemoteAccess configures a point-to-site template peer.
type RemoteAccess struct {
	// Cert is the gateway's certificate chain (DER, its own first) for
	// LocalID, and Key that certificate's key: the gateway authenticates
	// with them (RFC 7427 signature), as EAP clients require.
	Cert [][]byte
	Key  crypto.Signer
	// Users authenticates EAP-MSCHAPv2 clients (nil: EAP not offered).
	Users mschapv2.Lookup
	// Clients checks the certificates of certificate-authenticated
	// clients (nil: certificate clients refused).
	Clients *pki.Verifier
	// Relay, when set, authenticates EAP clients instead of Users: their
	// EAP messages go to an authentication server (RADIUS, Azure's
	// "Radius" authentication) and the engine waits for RelayDone.
	Relay EAPRelay
	// Pool gives each client its address; DNS servers are sent with it.
	Pool *pool.Pool
	DNS  []netip.Addr
	// TLSMinVersion and TLSMaxVersion bound the TLS versions of EAP-TLS
	// terminated by the gateway (tls.VersionTLS12 or tls.VersionTLS13;
	// 0: eaptls.DefaultMinVersion, DefaultMaxVersion).
	TLSMinVersion, TLSMaxVersion uint16
}

// RemoteAccessClient makes a peer a point-to-site client, the initiator
// side of RemoteAccess: it authenticates with a certificate (an RFC 7427
// signature, CERT with its chain, CERTREQ for GatewayRoots), asks for an
// address with CP(CFG_REQUEST), and accepts the gateway only if its
// certificate chains to GatewayRoots, is valid for server authentication,
// names the gateway's identity and signed the gateway's AUTH. The address
// the gateway assigns is reported with EventIKEUp (Event.VirtualIP) and is
// the local traffic selector of the Child SA (the peer's LocalTS, default
// 0.0.0.0/0, narrowed by the gateway).
type RemoteAccessClient struct {
	// Cert is our certificate chain (DER, ours first), Key its key
	// (ECDSA or RSA).
	Cert [][]byte
	Key  crypto.Signer
	// GatewayRoots are the roots the gateway's certificate must chain to
	// (at least one).
	GatewayRoots []*x509.Certificate
}

// clientTrust is what a RemoteAccessClient's checks need, computed once
// per peer configuration.
type clientTrust struct {
	roots   *x509.CertPool
	certReq []byte // CERTREQ data: SHA-1 of each root's public key
}

func newClientTrust(roots []*x509.Certificate) *clientTrust {
	t := &clientTrust{roots: x509.NewCertPool()}
	for _, r := range roots {
		t.roots.AddCert(r)
		h := sha1.Sum(r.RawSubjectPublicKeyInfo)
		t.certReq = append(t.certReq, h[:]...)
	}
	return t
}

// EAPRelay passes a point-to-site client's EAP messages to an
// authentication server. Relay must not block: it starts the exchange and
// returns; the answer goes to Engine.RelayDone on the engine's goroutine.
type EAPRelay interface {
	Relay(r RelayRequest)
}

// RelayRequest is one EAP message of a client for the server.
type RelayRequest struct {
	// ID names the exchange in RelayDone.
	ID uint64
	// User is the client's identity (the first message is the EAP
	// Identity Response the gateway builds from it).
	User string
	// EAP is the client's EAP packet.
	EAP []byte
	// Session is what the relay returned with the previous answer for
	// this client (nil for the first message).
	Session any
}

// RelayResult is the server's answer.
type RelayResult struct {
	// EAP is the server's EAP packet for the client: a Request, Success
	// or (with Err) Failure.
	EAP []byte
	// MSK is the EAP master session key, with Success.
	MSK []byte
	// Session is kept for the client's next message.
	Session any
	// Err says why the client was refused or the server did not answer.
	Err error
}

// Selectors are the traffic selectors of one Child SA: local and remote
// prefixes.
type Selectors struct {
	Local, Remote []netip.Prefix
}

// ModeName is the peer's mode as status reports it: "OnDemand" for an
// on-demand peer, else its Mode.
func (p *Peer) ModeName() string {
	if p.OnDemand {
		return "OnDemand"
	}
	return p.Mode.String()
}

// Identity is an IKE identity (RFC 7296 §3.5).
type Identity struct {
	Type message.IDType
	Data []byte
}

// IPIdentity is the ID_IPV4_ADDR or ID_IPV6_ADDR identity of addr.
func IPIdentity(addr netip.Addr) Identity {
	if addr.Is4() {
		a := addr.As4()
		return Identity{Type: message.IDIPv4Addr, Data: a[:]}
	}
	a := addr.As16()
	return Identity{Type: message.IDIPv6Addr, Data: a[:]}
}

// FQDNIdentity is the ID_FQDN identity name.
func FQDNIdentity(name string) Identity {
	return Identity{Type: message.IDFQDN, Data: []byte(name)}
}

// IsZero reports whether id is unset (meaning: any identity).
func (id Identity) IsZero() bool { return id.Type == 0 && len(id.Data) == 0 }

// Equal reports whether two identities are the same.
func (id Identity) Equal(o Identity) bool {
	return id.Type == o.Type && string(id.Data) == string(o.Data)
}

func (id Identity) String() string {
	switch id.Type {
	case message.IDIPv4Addr, message.IDIPv6Addr:
		if a, ok := netip.AddrFromSlice(id.Data); ok {
			return a.String()
		}
	case message.IDFQDN, message.IDRFC822Addr:
		return string(id.Data)
	case 0:
		if len(id.Data) == 0 {
			return "%any"
		}
	}
	return fmt.Sprintf("%d:%x", id.Type, id.Data)
}

// Peer is the configuration of one connection to one remote gateway: what
// the agent derives from a connection resource or a config file entry.
type Peer struct {
	// Name identifies the peer (the connection name); unique per Engine.
	Name string
	// Local is our address for this peer; it is the source of our IKE and
	// ESP packets and the default local identity.
	Local netip.Addr
	// Remote is the peer's address. The zero Addr means "unknown": the
	// peer may only initiate (the responder matches it by identity).
	Remote netip.Addr
	// LocalID is the identity we send; zero means Local as an IP identity.
	LocalID Identity
	// RemoteID is the identity the peer must present; zero accepts any
	// identity (the peer is then matched by address).
	RemoteID Identity
	// PSK is the pre-shared key (the connection's shared key).
	PSK []byte
	// IKEProposals are the IKE SA proposals, in preference order.
	IKEProposals []transform.Proposal
	// ESPProposals are the Child SA proposals, in preference order; a DH
	// group in them requests PFS for rekeys and CREATE_CHILD_SA.
	ESPProposals []transform.Proposal
	// Mode is the connection mode.
	Mode Mode
	// LocalTS and RemoteTS are the traffic selectors: our protected
	// prefixes and the peer's. Route-based connections use 0.0.0.0/0 on
	// both sides and let the routing table pick the tunnel.
	LocalTS, RemoteTS []netip.Prefix
	// PolicyBased negotiates one Child SA per (local, remote) prefix pair
	// when initiating, as Azure's usePolicyBasedTrafficSelectors and
	// PolicyBased gateways; each is installed with its own narrow
	// selectors. The IKEv1 engine (package ikev1) does so for every peer
	// (a Quick Mode carries one pair), and refuses more than
	// transform.AzureMaxSelectorPairs pairs with ErrConfig.
	PolicyBased bool
	// ChildSelectors, when set, are the Child SAs negotiated when this
	// side creates them, one per entry with its local and remote prefixes
	// (Azure's trafficSelectorPolicies, proposed only when Azure
	// initiates). They take the place of the LocalTS × RemoteTS pairs or
	// the all-prefixes Child SA; as the responder LocalTS and RemoteTS
	// still bound what the peer may propose. IKEv2 engine only.
	ChildSelectors []Selectors
	// RemoteAccess makes this peer a point-to-site template: any number
	// of clients connect to it, each authenticated with EAP, given an
	// address from the pool and a Child SA between that address and
	// LocalTS, and each becomes a peer of its own for as long as its IKE
	// SA lives (named "<template>/<user>/<address>", with PeerStatus.Client
	// set). Remote must be unset and PSK is not used. Compared by pointer
	// in SetPeers: keep the same value to keep the clients connected.
	RemoteAccess *RemoteAccess
	// Client makes this peer a point-to-site client of a remote-access
	// gateway at Remote (certificate authentication and a virtual
	// address; see RemoteAccessClient). PSK is not used. Compared by
	// pointer in SetPeers.
	Client *RemoteAccessClient
	// OnDemand makes the engine never initiate on its own for this peer:
	// not at SetPeers, not after a failure, not after the peer's Delete or
	// an expiry. It initiates only when told to (Initiate, and in package
	// ikev1 also InitiatePair); it still answers the peer, keeps
	// established SAs up (Child SA rekeys, IKEv1 Main Mode
	// re-authentication, DPD) and retransmits its own requests. The agent
	// sets it for PolicyBased gateways: it calls Terminate after the idle
	// time and Initiate on the next packet the data plane cannot send.
	// In the IKEv2 engine a Child SA the peer deletes from an established
	// IKE SA is still negotiated again (the IKE SA stays wanted); the
	// IKEv1 engine forgets that pair until the next Initiate.
	OnDemand bool
	// IKELifetime is the IKE SA lifetime; the SA is rekeyed before it.
	IKELifetime time.Duration
	// ChildLifetime and ChildLifeBytes are the Child SA lifetimes; the SA
	// is rekeyed before either is reached.
	ChildLifetime  time.Duration
	ChildLifeBytes uint64
	// DPDTimeout is how long the peer may stay silent before it is
	// declared dead; liveness checks start before it.
	DPDTimeout time.Duration
	// ForceEncap uses UDP encapsulation for ESP even without a NAT, by
	// faking the NAT detection hash (as strongSwan's encap=yes).
	ForceEncap bool
	// NoFragmentation disables IKE fragmentation (RFC 7383).
	NoFragmentation bool
	// Port is the peer's IKE port (default 500). Tests use other ports.
	Port uint16

	// customIKE and customESP record that proposals were configured (not
	// defaulted): then they are also all we accept as responder.
	customIKE, customESP bool
	// acceptIKE is ikeAccept's answer when shared (peerDefaults); nil
	// means build it.
	acceptIKE []transform.Proposal
	// trust is Client's roots and CERTREQ (set by withDefaults).
	trust *clientTrust
}

// Defaults, as Azure documents them (reference §3).
const (
	DefaultIKELifetime    = transform.AzureIKELifetime
	DefaultChildLifetime  = transform.AzureChildLifetime
	DefaultChildLifeBytes = 102400000 * 1024
	// The dead peer detection bounds are Azure's (transform owns them).
	DefaultDPDTimeout = transform.DefaultDpdTimeoutSeconds * time.Second
	MinDPDTimeout     = transform.MinDpdTimeoutSeconds * time.Second
	MaxDPDTimeout     = transform.MaxDpdTimeoutSeconds * time.Second
)

// ErrConfig is wrapped by configuration errors.
var ErrConfig = errors.New("ike: invalid peer configuration")

// peerDefaults are the default values of a Peer's slice fields, made once
// per Engine and shared (read-only) by every peer that leaves them unset:
// with thousands of peers a copy each would cost kilobytes per peer.
type peerDefaults struct {
	ike, esp []transform.Proposal
	anyTS    []netip.Prefix
	// espAccept is espAcceptDefault, what a responder without a custom
	// policy accepts for Child SAs: built once, not per Child SA (with
	// thousands of point-to-site clients connecting, rebuilding it for
	// each was 2 % of the gateway's CPU, in allocations).
	espAccept []transform.Proposal
	// ikeAccept is what a responder without a custom policy accepts for
	// IKE SAs (ikeAccept of a peer with the default proposals), built
	// once for the same reason.
	ikeAccept []transform.Proposal
}

func newPeerDefaults() *peerDefaults {
	d := &peerDefaults{
		ike:       append(transform.AzureDefaultIKEProposals(), transform.ModernIKEProposals()...),
		esp:       append(transform.AzureDefaultESPInitiator(), transform.ModernESPProposals()...),
		anyTS:     []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")},
		espAccept: espAcceptDefault(),
	}
	d.ikeAccept = slices.Clip((&Peer{IKEProposals: d.ike}).ikeAccept())
	return d
}

// withDefaults returns p with zero fields defaulted; slices come from d
// and must not be modified.
func (p Peer) withDefaults(d *peerDefaults) Peer {
	if p.LocalID.IsZero() && p.Local.IsValid() {
		p.LocalID = IPIdentity(p.Local)
	}
	if len(p.IKEProposals) > 0 {
		p.customIKE = true
	} else {
		p.IKEProposals = d.ike
		p.acceptIKE = d.ikeAccept
	}
	if len(p.ESPProposals) > 0 {
		p.customESP = true
	} else {
		p.ESPProposals = d.esp
	}
	if len(p.LocalTS) == 0 {
		p.LocalTS = d.anyTS
	}
	if len(p.RemoteTS) == 0 {
		p.RemoteTS = d.anyTS
	}
	if p.IKELifetime == 0 {
		p.IKELifetime = DefaultIKELifetime
	}
	if p.ChildLifetime == 0 {
		p.ChildLifetime = DefaultChildLifetime
	}
	if p.ChildLifeBytes == 0 {
		p.ChildLifeBytes = DefaultChildLifeBytes
	}
	if p.DPDTimeout == 0 {
		p.DPDTimeout = DefaultDPDTimeout
	}
	if p.Port == 0 {
		p.Port = 500
	}
	if p.Client != nil {
		p.trust = newClientTrust(p.Client.GatewayRoots)
	}
	return p
}

// Validate checks a peer configuration (after defaults).
func (p Peer) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: peer %q: %s", ErrConfig, p.Name, fmt.Sprintf(format, args...))
	}
	switch {
	case p.Name == "":
		return fmt.Errorf("%w: peer without a name", ErrConfig)
	case !p.Local.IsValid():
		return bad("no local address")
	case p.RemoteAccess != nil && (p.Remote.IsValid() || len(p.RemoteAccess.Cert) == 0 || p.RemoteAccess.Key == nil ||
		p.RemoteAccess.Pool == nil || (p.RemoteAccess.Users == nil && p.RemoteAccess.Clients == nil && p.RemoteAccess.Relay == nil) || p.LocalID.Type != message.IDFQDN):
		return bad("remote access needs no remote address, an FQDN local identity, a certificate with its key, users, a relay or client roots, and a pool")
	case p.Client != nil && (p.RemoteAccess != nil || !p.Remote.IsValid() || len(p.Client.Cert) == 0 || p.Client.Key == nil || len(p.Client.GatewayRoots) == 0):
		return bad("a remote-access client needs a remote address, a certificate with its key and gateway roots, and no remote-access template")
	case len(p.PSK) == 0 && p.RemoteAccess == nil && p.Client == nil:
		return bad("no pre-shared key")
	case p.Mode == ModeInitiatorOnly && !p.Remote.IsValid():
		return bad("mode InitiatorOnly needs a remote address")
	case p.DPDTimeout < MinDPDTimeout || p.DPDTimeout > MaxDPDTimeout:
		return bad("DPD timeout %v outside %v..%v", p.DPDTimeout, MinDPDTimeout, MaxDPDTimeout)
	}
	for i, pr := range p.IKEProposals {
		if err := pr.Validate(false); err != nil {
			return bad("IKE proposal %d: %v", i+1, err)
		}
	}
	for i, pr := range p.ESPProposals {
		if err := pr.Validate(true); err != nil {
			return bad("ESP proposal %d: %v", i+1, err)
		}
	}
	return nil
}

// Config configures an Engine.
type Config struct {
	// Rand is the source of SPIs, nonces and DH keys; nil means crypto/rand.
	Rand io.Reader
	// Keys, if set, supplies the DH key pairs of the MODP groups drawn
	// ahead of time (Rand is then not used for them); nil draws each
	// when it is needed.
	Keys *transform.KeyPool
	// Retransmit is the first retransmission timeout (default 1 s); it
	// doubles on each try up to RetransmitMax (default 8 s) for
	// RetransmitTries tries (default 6), after which the exchange fails.
	Retransmit, RetransmitMax time.Duration
	RetransmitTries           int
	// RetryInitiate is the first delay before a failed initiation is tried
	// again (default 2 s); it doubles up to 10 s. Azure retries every few
	// seconds. Each delay is drawn between half of it and all of it, so
	// that peers that failed together do not retry together.
	RetryInitiate time.Duration
	// CookieThreshold is the number of half-open IKE SAs above which
	// IKE_SA_INIT requests must carry a cookie (RFC 7296 §2.6); default 64.
	CookieThreshold int
	// HalfOpenTimeout drops responder IKE SAs that did not complete
	// IKE_AUTH (default 30 s).
	HalfOpenTimeout time.Duration
	// RekeyGrace is how long the inbound side of a rekeyed Child SA stays
	// installed after its replacement is active (default 10 s).
	RekeyGrace time.Duration
	// FragmentSize is the largest IKE datagram before fragmentation, when
	// the peer supports it (default 1280).
	FragmentSize int
}

func (c Config) withDefaults() Config {
	if c.Retransmit == 0 {
		c.Retransmit = time.Second
	}
	if c.RetransmitMax == 0 {
		c.RetransmitMax = 8 * time.Second
	}
	if c.RetransmitTries == 0 {
		c.RetransmitTries = 6
	}
	if c.RetryInitiate == 0 {
		c.RetryInitiate = 2 * time.Second
	}
	if c.CookieThreshold == 0 {
		c.CookieThreshold = 64
	}
	if c.HalfOpenTimeout == 0 {
		c.HalfOpenTimeout = 30 * time.Second
	}
	if c.RekeyGrace == 0 {
		c.RekeyGrace = 10 * time.Second
	}
	if c.FragmentSize == 0 {
		c.FragmentSize = 1280
	}
	return c
}

// Responder defaults. With no custom policy vpngw initiates with Azure's
// documented proposal lists (then a few modern suites) and, as responder,
// prefers transform.VpngwIKEProposals and accepts Azure's lists plus any
// combination of the algorithms below, so
// that devices configured from Azure's docs and devices with modern
// defaults (strongSwan, for one) both connect. Azure accepts only its own
// lists; this is deliberately more accommodating.
var (
	acceptEncrAEAD = []transform.Encr{{ID: transform.EncrAESGCM16, KeyBits: 256}, {ID: transform.EncrAESGCM16, KeyBits: 128},
		{ID: transform.EncrAESGCM16, KeyBits: 192}, {ID: transform.EncrChaCha20Poly1305}}
	acceptEncrCBC = []transform.Encr{{ID: transform.EncrAESCBC, KeyBits: 256}, {ID: transform.EncrAESCBC, KeyBits: 192},
		{ID: transform.EncrAESCBC, KeyBits: 128}, {ID: transform.EncrDES3}}
	acceptPRF   = []transform.ID{transform.PRFHMACSHA2256, transform.PRFHMACSHA2384, transform.PRFHMACSHA2512, transform.PRFHMACSHA1}
	acceptInteg = []transform.ID{transform.IntegHMACSHA2256128, transform.IntegHMACSHA2384192, transform.IntegHMACSHA2512256, transform.IntegHMACSHA196}
	acceptDH    = []transform.ID{transform.DHECP256, transform.DHECP384, transform.DHCurve25519, transform.DHMODP2048,
		transform.DHMODP3072, transform.DHMODP4096, transform.DHECP521, transform.DHMODP2048S256, transform.DHMODP1536, transform.DHMODP1024}
)

// ikeAccept is what a responder accepts for p's IKE SA, in our order of
// preference. Without a custom policy the suite vpngw uses between its own
// gateways comes first: a vpngw initiator offers Azure's list first (for
// third-party responders) but also the modern suites, so two vpngw agents
// settle on AES-GCM with elliptic-curve DH (after one INVALID_KE_PAYLOAD
// round trip) instead of Azure's AES256/SHA1/DH group 2.
func (p *Peer) ikeAccept() []transform.Proposal {
	if p.customIKE {
		return p.IKEProposals
	}
	if p.acceptIKE != nil {
		return p.acceptIKE
	}
	return append(append(transform.VpngwIKEProposals(), p.IKEProposals...),
		transform.Proposal{Encr: acceptEncrAEAD, PRF: acceptPRF, DH: acceptDH},
		transform.Proposal{Encr: acceptEncrCBC, PRF: acceptPRF, Integ: acceptInteg, DH: acceptDH},
	)
}

// espAcceptDefault is what a responder accepts for Child SAs without a
// custom policy.
func espAcceptDefault() []transform.Proposal {
	pfs := append([]transform.ID{transform.DHNone}, acceptDH...)
	return append(append(transform.AzureDefaultESPResponder(), transform.ModernESPProposals()...),
		transform.Proposal{Encr: acceptEncrAEAD, DH: pfs, ESN: []transform.ID{transform.ESNNo, transform.ESNYes}},
		transform.Proposal{Encr: acceptEncrCBC, Integ: acceptInteg, DH: pfs, ESN: []transform.ID{transform.ESNNo, transform.ESNYes}},
	)
}
