// Package lab emulates, on one Linux host, the cloud that vpngw's resources
// live in: an internet, virtual networks with subnets, VMs, the instances of
// virtual network gateways and on-premises sites, each made of network
// namespaces joined by veth pairs. `vpngw serve --provider lab` drives it
// (the reconciler realizes every stored resource through this package and
// starts gateway agents inside the instance namespaces); `vpngw lab ...`
// adds VMs and sites and runs commands inside them.
//
// # Topology
//
//	         ┌─────────────── <p>-inet ──────────────┐  internet router:
//	         │ p-<h>          p-<h>            p-<h> │  169.254.0.1 on lo,
//	         └──┬───────────────┬────────────────┬───┘  a /32 route per public IP
//	wan0 198.51.100.1/32   wan0 (standby)   wan0 192.0.2.10/32
//	   <p>-gw-<h>-0        <p>-gw-<h>-1     <p>-site-<name>       (VPN device)
//	lan0 10.1.255.4/27   lan0 10.1.255.5/27 lan0 10.50.0.1/16
//	            │               │                │
//	      v-<h> └───────┬───────┘ v-<h>     eth0 10.50.0.2/16
//	    ┌──── b-<h> 10.1.255.1/27 ────┐     <p>-sitehost-<name>   (host)
//	    │    <p>-vnet-<h>  (router)   │
//	    └──── b-<h> 10.1.1.1/24 ──────┘
//	                    │ v-<h>
//	              eth0 10.1.1.4/24
//	                <p>-vm-<h>
//
// Internet. One router namespace. Each public endpoint (a gateway instance,
// a site's device) has a veth leg into it: wan0 in the endpoint holds the
// public IP(s) as /32s with a default route via the router's own address
// ("default via 169.254.0.1 dev wan0 onlink", one neighbour entry however
// many peers); the router end p-<hash> has no address, proxy ARP answers
// for everything the router can reach, and a /32 route per public IP points at the holder's
// leg. There are no bridges and no shared subnet, so moving a public IP (a
// failover) is: remove the /32 from the old holder's wan0, add it to the new
// holder's wan0, replace the router's /32 route. The router knows only the
// public IPs, all from the TEST-NET ranges, and has no default route: nothing
// leaves the lab.
//
// Virtual networks. One router namespace per VNet with a bridge per subnet;
// the router holds each subnet's first usable address (Azure's default
// gateway, .1). VMs and gateway instances hang off the bridges with veths;
// addresses are handed out from .4 (Azure reserves the first four addresses
// and the last). Without routes the VNet reaches only its own subnets;
// SetVNetRoutes programs routes to remote prefixes via a gateway instance's
// GatewaySubnet address (the reconciler points them at the active instance).
//
// Gateway instances. A namespace per instance with lan0 in the VNet's
// GatewaySubnet (.4 for instance 0, .5 for instance 1 unless given) with
// routes to the VNet's address space via the VNet router, and wan0 on the
// internet holding the public IPs assigned with SetPublicIPs; a standby
// instance in active-standby holds none (its wan0 is up without an address,
// ready for the IP to move in). Forwarding is on and reverse-path filtering
// off. The agent running inside creates its own TUN and routes.
//
// Sites. A device namespace with wan0 on the internet (the site's public IP)
// and lan0 holding the first usable address of the site's first prefix, so
// that an IPsec daemon there has an address inside its traffic selector, and
// a host namespace behind it with the next address and a default route via
// the device.
//
// Point-to-site clients. A namespace with wan0 on the internet (its public
// IP) and nothing else, like a laptop: its VPN client gets the tunnel
// address from the gateway.
//
// # Names
//
// Namespace names are deterministic (see Names): <p>-inet, <p>-vnet-<hash of
// the VNet ID>, <p>-gw-<hash of the gateway ID>-<instance>, <p>-vm-<hash of
// resource group/name>, <p>-site-<name>, <p>-sitehost-<name>, where <p> is
// the lab's prefix ("vpngw" in production; tests use their own). Interface
// names are fixed inside endpoints (wan0, lan0, eth0) and hashed on the
// router side (p-<8 hex>, v-<8 hex>, b-<8 hex>), all within 15 bytes. Every
// route the lab installs has protocol 200, so replacing a namespace's routes
// never touches routes others (an agent, strongSwan) installed.
//
// # State, idempotency, restarts
//
// The lab's desired topology is a JSON file in its state directory, written
// atomically after every change and before the change is realized, and
// guarded by an exclusive lock on the directory (one Lab per directory).
// Every Ensure/Set/Create call is idempotent and repairs whatever is missing
// or wrong (a namespace deleted by hand, a veth whose peer is gone, a stale
// address or route), so the server can simply repeat its calls. Restore
// re-realizes everything recorded (after a server restart or a reboot),
// including VMs and sites, which the API's store does not know.
//
// # Processes
//
// StartDetached starts a long-running process (an agent) inside a namespace
// with `ip netns exec`, in its own session, stdio on a log file, so that it
// survives the server; EnsureProcess records it in the state by name. A
// process is identified by PID, command line and start time, so a reused PID
// is never mistaken for it; Stop sends SIGTERM, then SIGKILL, by PID.
//
// # Safety
//
// Public addresses are refused unless they are in TEST-NET (RFC 5737);
// private prefixes must not overlap TEST-NET or 169.254.0.0/16. In the root
// namespace the lab only creates and deletes named namespaces (ip netns) and
// writes its state directory; links are created directly inside the lab's
// namespaces. Down deletes only namespaces named <prefix>-..., and stops
// processes by PID.
//
// The lab realizes IPv4 only.
package lab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Sentinel errors; the lab's errors wrap them so callers (and the HTTP
// handler) can branch with errors.Is.
var (
	// ErrInvalid: a name, address or prefix breaks a rule.
	ErrInvalid = errors.New("lab: invalid argument")
	// ErrNotFound: the VNet, subnet, gateway, VM, site or process is not
	// in the lab.
	ErrNotFound = errors.New("lab: not found")
	// ErrConflict: the object exists with different settings.
	ErrConflict = errors.New("lab: conflict")
	// ErrAddressInUse: the address is held by another endpoint.
	ErrAddressInUse = errors.New("lab: address in use")
	// ErrExhausted: no free address is left in the subnet.
	ErrExhausted = errors.New("lab: subnet full")
	// ErrLocked: another Lab (another server) holds the state directory.
	ErrLocked = errors.New("lab: state directory in use")
)

// Options configure Open.
type Options struct {
	// Dir is the state directory (created with mode 0700 if missing).
	Dir string
	// Prefix starts every namespace name (see ValidPrefix); empty means
	// DefaultPrefix.
	Prefix string
	// PublicIPPool is the API's public IP pool. Each prefix must lie in a
	// TEST-NET range; sites may not take addresses from it, so that a site
	// never collides with a gateway's allocated address.
	PublicIPPool []netip.Prefix
	// StopTimeout is how long a process gets between SIGTERM and SIGKILL
	// (default 5 s).
	StopTimeout time.Duration
	// Logger receives one record per realized change; nil is silent.
	Logger *slog.Logger
}

// Lab is the emulated cloud on this host. Its methods are safe for
// concurrent use; they are serialized by one mutex (each call takes
// milliseconds, so a failover never waits long).
type Lab struct {
	// names computes namespace names from the prefix.
	names Names
	// dir is the state directory.
	dir string
	// pool is Options.PublicIPPool.
	pool []netip.Prefix
	// stopTimeout is Options.StopTimeout.
	stopTimeout time.Duration
	// log is never nil.
	log *slog.Logger
	// lock is the open lock file (flock held while open).
	lock *os.File

	// mu serializes every operation and guards st.
	mu sync.Mutex
	// st is the desired topology, mirrored in dir/state.json.
	st *state
}

// Open opens (or creates) the lab whose state is in opts.Dir. It takes an
// exclusive lock on the directory and reads the state; it changes no
// namespace. Call Restore to realize the recorded topology.
func Open(opts Options) (*Lab, error) {
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if !ValidPrefix(opts.Prefix) {
		return nil, fmt.Errorf("%w: prefix %q: want a lower-case letter and up to 15 lower-case letters or digits", ErrInvalid, opts.Prefix)
	}
	if opts.Dir == "" {
		return nil, fmt.Errorf("%w: no state directory", ErrInvalid)
	}
	for _, p := range opts.PublicIPPool {
		if !p.Addr().Is4() || !slices.ContainsFunc(TestNets, func(t netip.Prefix) bool { return t.Bits() <= p.Bits() && t.Contains(p.Addr()) }) {
			return nil, fmt.Errorf("%w: public IP pool %s is not inside a TEST-NET range (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24); the lab puts only documentation addresses on its internet", ErrInvalid, p)
		}
	}
	if opts.StopTimeout <= 0 {
		opts.StopTimeout = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("lab: state directory: %w", err)
	}
	lock, err := lockDir(opts.Dir)
	if err != nil {
		return nil, err
	}
	st, err := loadState(opts.Dir, opts.Prefix)
	if err != nil {
		lock.Close()
		return nil, err
	}
	return &Lab{
		names:       Names{Prefix: opts.Prefix},
		dir:         opts.Dir,
		pool:        slices.Clone(opts.PublicIPPool),
		stopTimeout: opts.StopTimeout,
		log:         opts.Logger,
		lock:        lock,
		st:          st,
	}, nil
}

// Close releases the state directory. The topology and the processes stay
// as they are.
func (l *Lab) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lock == nil {
		return nil
	}
	err := l.lock.Close()
	l.lock = nil
	return err
}

// Names returns the lab's namespace names.
func (l *Lab) Names() Names { return l.names }

// Dir returns the state directory.
func (l *Lab) Dir() string { return l.dir }

// Restore realizes everything the state records: the internet, VNets with
// their routes, gateway instances with their public IPs, VMs and sites. It
// does not restart processes (their owners do, with EnsureProcess). It
// carries on past failures and returns them joined.
func (l *Lab) Restore(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	for _, id := range sortedKeys(l.st.VNets) {
		errs = append(errs, l.realizeVNet(ctx, l.st.VNets[id]))
	}
	for _, gi := range l.instances() {
		errs = append(errs, l.realizeInstance(ctx, gi))
	}
	for _, k := range sortedKeys(l.st.VMs) {
		errs = append(errs, l.realizeVM(ctx, l.st.VMs[k]))
	}
	for _, k := range sortedKeys(l.st.Sites) {
		errs = append(errs, l.realizeSite(ctx, l.st.Sites[k]))
	}
	for _, k := range sortedKeys(l.st.Clients) {
		errs = append(errs, l.realizeClient(ctx, l.st.Clients[k]))
	}
	if l.hasInternet() {
		errs = append(errs, l.realizeInternet(ctx))
	}
	return errors.Join(errs...)
}

// Down removes the whole lab: it stops every recorded process (by PID),
// deletes every namespace the state records and every other namespace whose
// name carries the lab's prefix (left by a lost state), killing what still
// runs inside by PID, and removes the state file. The Lab stays open and
// empty.
func (l *Lab) Down(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	for _, name := range sortedKeys(l.st.Processes) {
		if err := Stop(ctx, *l.st.Processes[name], l.stopTimeout); err != nil {
			errs = append(errs, err)
		}
	}
	nss := l.recordedNamespaces()
	owned, err := listNS(l.names)
	errs = append(errs, err)
	for _, ns := range owned {
		if !slices.Contains(nss, ns) {
			nss = append(nss, ns)
		}
	}
	for _, ns := range nss {
		if err := deleteNS(ctx, ns, l.stopTimeout); err != nil {
			errs = append(errs, err)
			continue
		}
		l.log.Info("deleted namespace", "ns", ns)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	l.st = newState(l.names.Prefix)
	if err := os.Remove(filepath.Join(l.dir, stateFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("lab: remove state: %w", err)
	}
	return nil
}

// recordedNamespaces lists every namespace the state implies.
func (l *Lab) recordedNamespaces() []string {
	var out []string
	if l.hasInternet() {
		out = append(out, l.names.Internet())
	}
	for _, v := range l.st.VNets {
		out = append(out, l.names.VNet(v.Spec.ID))
	}
	for _, gi := range l.instances() {
		out = append(out, gi.Namespace)
	}
	for _, vm := range l.st.VMs {
		out = append(out, vm.Namespace)
	}
	for _, s := range l.st.Sites {
		out = append(out, s.Namespace, s.HostNamespace)
	}
	for _, c := range l.st.Clients {
		out = append(out, c.Namespace)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// hasInternet reports whether the state implies the internet router;
// callers hold mu.
func (l *Lab) hasInternet() bool {
	return l.st.Internet || len(l.st.Sites) > 0 || len(l.st.Clients) > 0 || len(l.st.Gateways) > 0
}

// Empty reports whether the lab holds nothing but (perhaps) its internet
// router: no VNet, gateway, VM, site, client or process.
func (l *Lab) Empty() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.st
	return len(st.VNets)+len(st.Gateways)+len(st.VMs)+len(st.Sites)+len(st.Clients)+len(st.Processes) == 0
}

// save writes the state; callers hold mu.
func (l *Lab) save() error { return saveState(l.dir, l.st) }

// defaultRoute is 0.0.0.0/0.
var defaultRoute = netip.PrefixFrom(netip.IPv4Unspecified(), 0)

// internetRoute is a public endpoint's default route: via the internet
// router's address, on-link out of wan0 (the router answers ARP for it).
// With a next hop the endpoint keeps one neighbour entry, the router's,
// however many sources it talks to; "default dev wan0" needed one per
// remote address, so a flood from spoofed sources overflowed the host-wide
// ARP table and broke unrelated tunnels.
var internetRoute = labRoute{Dst: defaultRoute, Gw: routerAddr.Addr(), Dev: IfWAN, Onlink: true}

// endpointRoutes are the lab routes of an endpoint namespace: a gateway
// instance routes its VNet's address space to the VNet router and the rest
// to the internet; a site device routes everything to the internet; VMs and
// site hosts have a default route to their router.
func (l *Lab) endpointRoutes(ns string) []labRoute {
	for _, gi := range l.instances() {
		if gi.Namespace != ns {
			continue
		}
		routes := []labRoute{internetRoute}
		if v, ok := l.st.VNets[strings.ToLower(gi.VNet)]; ok {
			for _, p := range v.Spec.AddressSpace {
				routes = append(routes, labRoute{Dst: p, Gw: gi.Router, Dev: IfLAN})
			}
		}
		return routes
	}
	for _, vm := range l.st.VMs {
		if vm.Namespace == ns {
			return []labRoute{{Dst: defaultRoute, Gw: vm.DefaultGateway, Dev: IfVM}}
		}
	}
	for _, c := range l.st.Clients {
		if c.Namespace == ns {
			return []labRoute{internetRoute}
		}
	}
	for _, s := range l.st.Sites {
		switch ns {
		case s.Namespace:
			return []labRoute{internetRoute}
		case s.HostNamespace:
			return []labRoute{{Dst: defaultRoute, Gw: s.DeviceIP, Dev: IfVM}}
		}
	}
	return nil
}
