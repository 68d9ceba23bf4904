package lab

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
)

// EnsureInternet creates (or repairs) the internet router with every public
// leg and route the state records. Gateway instances and sites ensure it
// themselves; calling it alone is useful for a bare lab.
func (l *Lab) EnsureInternet(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.st.Internet {
		l.st.Internet = true
		if err := l.save(); err != nil {
			return err
		}
	}
	return l.realizeInternet(ctx)
}

// realizeInternetBase makes the router namespace itself: forwarding, proxy
// ARP on every leg, its own address on lo.
func (l *Lab) realizeInternetBase(ctx context.Context) error {
	ns := l.names.Internet()
	created, err := ensureNS(ctx, ns)
	if err != nil {
		return err
	}
	if created {
		l.log.Info("created internet", "ns", ns)
	}
	settings := append(routerSysctls(),
		sysctl{"net/ipv4/conf/all/proxy_arp", "1"},
		sysctl{"net/ipv4/conf/default/proxy_arp", "1"},
	)
	if err := setSysctls(ns, settings); err != nil {
		return err
	}
	c, err := dial(ns)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.setAddrs("lo", []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8"), routerAddr})
}

// realizeInternet is the base plus the public leg of every endpoint whose
// namespace exists, the router's routes, and the removal of legs that
// belong to no endpoint.
func (l *Lab) realizeInternet(ctx context.Context) error {
	if err := l.realizeInternetBase(ctx); err != nil {
		return err
	}
	inet, err := dial(l.names.Internet())
	if err != nil {
		return err
	}
	defer inet.Close()
	ips := map[string][]netip.Addr{}
	for a, ns := range l.holders() {
		ips[ns] = append(ips[ns], a)
	}
	known := map[string]bool{}
	for _, ns := range l.publicEndpoints() {
		known[routerIf('p', ns)] = true
		if !nsPresent(ns) {
			continue
		}
		if err := l.connectPublic(inet, ns, ips[ns]); err != nil {
			return err
		}
	}
	links, err := inet.links()
	if err != nil {
		return err
	}
	for _, lk := range links {
		if name := lk.Attrs().Name; strings.HasPrefix(name, "p-") && !known[name] {
			if err := inet.delLink(name); err != nil {
				return err
			}
			l.log.Info("removed stale internet leg", "if", name)
		}
	}
	if err := l.syncFrontends(ctx); err != nil {
		return err
	}
	return l.syncInternetRoutes(inet)
}

// connectPublic makes the leg between the router and endpoint ns with the
// public IPs ips on wan0.
func (l *Lab) connectPublic(inet *nsConn, ns string, ips []netip.Addr) error {
	ep, err := dial(ns)
	if err != nil {
		return err
	}
	defer ep.Close()
	if err := ensureVeth(ep, IfWAN, inet, routerIf('p', ns)); err != nil {
		return err
	}
	if err := l.setWAN(ep, ips); err != nil {
		return err
	}
	// A recreated interface took its routes with it.
	return ep.setRoutes(l.endpointRoutes(ns), true)
}

// publicEndpoints lists the namespaces with a leg on the internet.
func (l *Lab) publicEndpoints() []string {
	var out []string
	for _, gi := range l.instances() {
		out = append(out, gi.Namespace)
	}
	for _, k := range sortedKeys(l.st.Sites) {
		out = append(out, l.st.Sites[k].Namespace)
	}
	for _, k := range sortedKeys(l.st.Clients) {
		out = append(out, l.st.Clients[k].Namespace)
	}
	return out
}

// holders maps every public IP in the state to the namespace holding it.
func (l *Lab) holders() map[netip.Addr]string {
	m := map[netip.Addr]string{}
	for _, gi := range l.instances() {
		for _, a := range gi.PublicIPs {
			m[a] = gi.Namespace
		}
	}
	for _, s := range l.st.Sites {
		m[s.PublicIP] = s.Namespace
	}
	for _, c := range l.st.Clients {
		m[c.PublicIP] = c.Namespace
	}
	return m
}

// syncInternetRoutes makes the router's /32 routes match the holders, for
// the legs that exist (a leg that is not there yet gets its route when its
// endpoint is realized).
func (l *Lab) syncInternetRoutes(c *nsConn) error {
	var want []labRoute
	for a, ns := range l.holders() {
		dev := routerIf('p', ns)
		if lk, err := c.link(dev); err != nil || lk == nil {
			continue
		}
		want = append(want, labRoute{Dst: netip.PrefixFrom(a, 32), Dev: dev})
	}
	return c.setRoutes(want, false)
}

// realizePublicLeg connects endpoint namespace ns (already existing) to the
// internet: the veth, the public /32s on wan0 and the router's routes. A
// router that had to be (re)created gets every endpoint's leg back.
func (l *Lab) realizePublicLeg(ctx context.Context, ns string, ips []netip.Addr) error {
	if !nsPresent(l.names.Internet()) {
		return l.realizeInternet(ctx)
	}
	if err := l.realizeInternetBase(ctx); err != nil {
		return err
	}
	inet, err := dial(l.names.Internet())
	if err != nil {
		return err
	}
	defer inet.Close()
	if err := l.connectPublic(inet, ns, ips); err != nil {
		return err
	}
	return l.syncInternetRoutes(inet)
}

// setWAN gives an endpoint's wan0 exactly the public IPs ips.
func (l *Lab) setWAN(ep *nsConn, ips []netip.Addr) error {
	addrs := make([]netip.Prefix, len(ips))
	for i, a := range ips {
		addrs[i] = netip.PrefixFrom(a, 32)
	}
	if err := ep.setAddrs(IfWAN, addrs); err != nil {
		return err
	}
	return nil
}

// removePublicLeg deletes the router end of ns's leg (which takes the pair
// and the routes through it).
func (l *Lab) removePublicLeg(ns string) error {
	if !nsPresent(l.names.Internet()) {
		return nil
	}
	inet, err := dial(l.names.Internet())
	if err != nil {
		return err
	}
	defer inet.Close()
	if err := inet.delLink(routerIf('p', ns)); err != nil {
		return fmt.Errorf("lab: remove internet leg of %s: %w", ns, err)
	}
	return l.syncInternetRoutes(inet)
}
