package dataplane

// Covering routes: one kernel route into the TUN device for a prefix whose
// addresses tunnels claim one at a time (a point-to-site address pool,
// whose clients each own a /32). A tunnel's prefix inside a covering one
// gets no kernel route of its own: the kernel already sends its packets
// into the TUN device, and the data plane's own prefix table (state.go)
// maps the address to its tunnel, so bringing a client up or down costs
// no netlink round trip. A packet to a covered address that no tunnel
// owns finds no route in that table and is dropped there, counted as
// Stats.NoRoute, instead of leaving by the gateway's default route.

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
)

// SetCoveringRoutes sets the covering routes: prefixes routed into the
// TUN device that no tunnel owns (see above). Tunnels' prefixes that a
// change uncovers get their own kernel routes back, and newly covered
// ones lose theirs. The default route (0.0.0.0/0) cannot cover.
func (d *Dataplane) SetCoveringRoutes(ps []netip.Prefix) error {
	next := make([]netip.Prefix, 0, len(ps))
	for _, p := range ps {
		if !p.IsValid() || isDefault(p) {
			return fmt.Errorf("%w: covering route %v", ErrInvalid, p)
		}
		if p = p.Masked(); !slices.Contains(next, p) {
			next = append(next, p)
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed.Load() {
		return ErrClosed
	}
	old := d.covers
	var errs []error
	// New covers first, so that no covered address is ever unrouted.
	for _, p := range next {
		if !slices.Contains(old, p) {
			if err := d.addRoute(p); err != nil {
				errs = append(errs, err)
				continue
			}
		}
	}
	d.covers = next
	for p := range d.routes {
		was, is := coveredBy(old, p), coveredBy(next, p)
		switch {
		case was && !is:
			errs = append(errs, d.addRoute(p))
		case !was && is && !slices.Contains(next, p):
			errs = append(errs, d.delRoute(p))
		}
	}
	for _, p := range old {
		// A tunnel's own prefix equal to an old cover keeps the route.
		if _, owned := d.routes[p]; !slices.Contains(next, p) && !owned {
			errs = append(errs, d.delRoute(p))
		}
	}
	return errors.Join(errs...)
}

// coveredBy reports whether one of covers contains p.
func coveredBy(covers []netip.Prefix, p netip.Prefix) bool {
	for _, c := range covers {
		if c.Bits() <= p.Bits() && c.Contains(p.Addr()) {
			return true
		}
	}
	return false
}

// addTunnelRoute routes a tunnel's prefix into the TUN device unless a
// covering route already does (d.mu held).
func (d *Dataplane) addTunnelRoute(p netip.Prefix) error {
	if coveredBy(d.covers, p) {
		return nil
	}
	return d.addRoute(p)
}

// delTunnelRoute removes a tunnel's prefix's kernel route, which a
// covered prefix does not have (d.mu held).
func (d *Dataplane) delTunnelRoute(p netip.Prefix) error {
	if coveredBy(d.covers, p) {
		return nil
	}
	return d.delRoute(p)
}
