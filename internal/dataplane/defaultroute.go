package dataplane

// A tunnel that carries 0.0.0.0/0 (a default route learned over BGP,
// which Azure lets steer the VNet's egress) cannot get a kernel default
// route in the main table: that route also carries the tunnels' own IKE
// and ESP to the peers' public addresses, which would then loop into the
// TUN device. Instead the default route goes into a table of its own that
// only packets from the gateway's own address space (the VNet:
// SetLocalPrefixes) look up, after the main table has had its say for everything more specific
// than a default route (wg-quick's rule pair):
//
//	ip rule add pref 30300 lookup main suppress_prefixlength 0
//	ip rule add pref 30301 from <source> lookup 30301   (one per source)
//	ip route add default dev <tun> table 30301
//
// The gateway's own traffic (from its public address) and traffic from
// the tunnels keep the main table's default route. The table also holds a
// throw route for each peer's address, so that IKE and ESP keep the main
// table even when the gateway's source address lies in the VNet (a host
// behind NAT). The data plane's own
// prefix table holds 0.0.0.0/0 like any prefix, so a packet the kernel
// sends into the TUN device by that route finds the tunnel.

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

const (
	// DefaultRouteTable is the routing table of a tunnel's 0.0.0.0/0.
	DefaultRouteTable = 30301
	// suppressPriority and sourcePriority are the rules' priorities (below
	// the main table's 32766).
	suppressPriority = 30300
	sourcePriority   = 30301
)

// SetLocalPrefixes sets the gateway's own address space (the VNet): the
// sources whose packets a tunnel's 0.0.0.0/0 route carries (the rules
// follow when a default route is installed), and destinations that never
// count as transit between tunnels (the kernel routes them to the VNet,
// whatever a learned supernet says). Only IPv4 prefixes count.
func (d *Dataplane) SetLocalPrefixes(from []netip.Prefix) error {
	from = slices.DeleteFunc(slices.Clone(from), func(p netip.Prefix) bool { return !p.Addr().Is4() || p.Bits() == 0 })
	d.mu.Lock()
	defer d.mu.Unlock()
	if slices.Equal(from, d.egressFrom) {
		return nil
	}
	old := d.egressFrom
	d.egressFrom = from
	d.local.Store(&from)
	if !d.defaultRoute {
		return nil
	}
	return errors.Join(d.setSourceRules(old, false), d.setSourceRules(from, true))
}

// isDefault reports whether p is the IPv4 default route, which addRoute
// and delRoute route through DefaultRouteTable.
func isDefault(p netip.Prefix) bool { return p.Bits() == 0 && p.Addr().Is4() }

// addDefaultRoute installs the default route table and its rules (d.mu
// held).
func (d *Dataplane) addDefaultRoute() error {
	r := &netlink.Route{LinkIndex: d.link.Attrs().Index, Dst: prefixToIPNet(netip.MustParsePrefix("0.0.0.0/0")),
		Scope: netlink.SCOPE_LINK, Table: DefaultRouteTable}
	if err := d.nl.RouteReplace(r); err != nil {
		return fmt.Errorf("dataplane: default route dev %s table %d: %w", d.tunName, DefaultRouteTable, err)
	}
	d.defaultRoute = true
	return errors.Join(d.syncThrowRoutes(), d.rule(suppressRule(), true), d.setSourceRules(d.egressFrom, true))
}

// syncThrowRoutes makes the default route table throw the peers'
// addresses back to the main table (d.mu held; SetTunnel and RemoveTunnel
// call it, as peers come and go).
func (d *Dataplane) syncThrowRoutes() error {
	want := map[netip.Addr]bool{}
	if d.defaultRoute {
		for r := range d.remotes {
			if a := r.Addr().Unmap(); a.Is4() {
				want[a] = true
			}
		}
	}
	var errs []error
	for a := range d.throws {
		if !want[a] {
			if err := d.nl.RouteDel(throwRoute(a)); err != nil && !errors.Is(err, unix.ESRCH) {
				errs = append(errs, fmt.Errorf("dataplane: delete throw route %v table %d: %w", a, DefaultRouteTable, err))
			}
			delete(d.throws, a)
		}
	}
	for a := range want {
		if d.throws[a] {
			continue
		}
		if err := d.nl.RouteReplace(throwRoute(a)); err != nil {
			errs = append(errs, fmt.Errorf("dataplane: throw route %v table %d: %w", a, DefaultRouteTable, err))
			continue
		}
		if d.throws == nil {
			d.throws = map[netip.Addr]bool{}
		}
		d.throws[a] = true
	}
	return errors.Join(errs...)
}

func throwRoute(a netip.Addr) *netlink.Route {
	return &netlink.Route{Dst: prefixToIPNet(netip.PrefixFrom(a, 32)), Table: DefaultRouteTable, Type: unix.RTN_THROW}
}

// delDefaultRoute removes them (d.mu held).
func (d *Dataplane) delDefaultRoute() error {
	d.defaultRoute = false
	r := &netlink.Route{LinkIndex: d.link.Attrs().Index, Dst: prefixToIPNet(netip.MustParsePrefix("0.0.0.0/0")),
		Scope: netlink.SCOPE_LINK, Table: DefaultRouteTable}
	var errs []error
	if err := d.nl.RouteDel(r); err != nil {
		errs = append(errs, fmt.Errorf("dataplane: delete default route table %d: %w", DefaultRouteTable, err))
	}
	return errors.Join(append(errs, d.syncThrowRoutes(), d.setSourceRules(d.egressFrom, false), d.rule(suppressRule(), false))...)
}

func suppressRule() *netlink.Rule {
	r := netlink.NewRule()
	r.Family, r.Priority, r.Table, r.SuppressPrefixlen = unix.AF_INET, suppressPriority, unix.RT_TABLE_MAIN, 0
	return r
}

func (d *Dataplane) setSourceRules(from []netip.Prefix, add bool) error {
	var errs []error
	for _, p := range from {
		r := netlink.NewRule()
		r.Family, r.Priority, r.Table, r.Src = unix.AF_INET, sourcePriority, DefaultRouteTable, prefixToIPNet(p.Masked())
		errs = append(errs, d.rule(r, add))
	}
	return errors.Join(errs...)
}

// rule adds (replacing an equal one left behind) or deletes r.
func (d *Dataplane) rule(r *netlink.Rule, add bool) error {
	if add {
		_ = d.nl.RuleDel(r) // a rule from an earlier run: rules are not unique
		if err := d.nl.RuleAdd(r); err != nil {
			return fmt.Errorf("dataplane: ip rule pref %d table %d: %w", r.Priority, r.Table, err)
		}
		return nil
	}
	if err := d.nl.RuleDel(r); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("dataplane: delete ip rule pref %d table %d: %w", r.Priority, r.Table, err)
	}
	return nil
}
