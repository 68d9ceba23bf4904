package lab

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/vpngw/vpngw/internal/netx"
)

// SiteSpec describes an on-premises site to create.
type SiteSpec struct {
	// Name is the site's name: 1-40 letters, digits and hyphens
	// (case-insensitive; namespaces use the lower-case form).
	Name string
	// PublicIP is the device's address on the internet: a TEST-NET
	// address outside the API's public IP pool.
	PublicIP netip.Addr
	// AddressPrefixes are the site's IPv4 prefixes; the first is realized
	// as the LAN between the device and the host (/30 or larger).
	AddressPrefixes []netip.Prefix
}

// Site is a lab site: a VPN device namespace on the internet and a host
// namespace behind it.
type Site struct {
	// Name is the site's name (lower case).
	Name string `json:"name"`
	// PublicIP is the device's public address (on wan0).
	PublicIP netip.Addr `json:"publicIp"`
	// AddressPrefixes are the site's prefixes as given.
	AddressPrefixes []netip.Prefix `json:"addressPrefixes"`
	// DeviceIP is the device's LAN address (on lan0): the first usable
	// address of the first prefix, inside the site's traffic selector.
	DeviceIP netip.Addr `json:"deviceIp"`
	// HostIP is the host's address (on eth0): the next address. Its
	// default route points at DeviceIP.
	HostIP netip.Addr `json:"hostIp"`
	// Namespace is the device's namespace, HostNamespace the host's.
	Namespace     string `json:"namespace"`
	HostNamespace string `json:"hostNamespace"`
}

// CreateSite creates a site (or repairs the one with the same name and
// settings, returning it). A site of that name with other settings is a
// conflict: delete it first.
func (l *Lab) CreateSite(ctx context.Context, spec SiteSpec) (Site, error) {
	if err := checkSiteName(spec.Name); err != nil {
		return Site{}, err
	}
	if err := l.checkEndpointIP(spec.PublicIP); err != nil {
		return Site{}, err
	}
	if len(spec.AddressPrefixes) == 0 {
		return Site{}, fmt.Errorf("%w: site %s needs at least one address prefix", ErrInvalid, spec.Name)
	}
	for _, p := range spec.AddressPrefixes {
		if err := checkPrivate("site address prefix", p); err != nil {
			return Site{}, err
		}
	}
	lan := spec.AddressPrefixes[0]
	if lan.Bits() > 30 {
		return Site{}, fmt.Errorf("%w: site prefix %s: the first prefix needs two usable addresses (/30 or larger)", ErrInvalid, lan)
	}
	name := strings.ToLower(spec.Name)
	dev, _ := netx.NthAddr(lan, 1)
	host, _ := netx.NthAddr(lan, 2)
	site := &Site{
		Name:            name,
		PublicIP:        spec.PublicIP,
		AddressPrefixes: slices.Clone(spec.AddressPrefixes),
		DeviceIP:        dev,
		HostIP:          host,
		Namespace:       l.names.SiteDevice(name),
		HostNamespace:   l.names.SiteHost(name),
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if old, ok := l.st.Sites[name]; ok {
		if old.PublicIP != site.PublicIP || !slices.Equal(old.AddressPrefixes, site.AddressPrefixes) {
			return Site{}, fmt.Errorf("%w: site %s exists with public IP %s and prefixes %v; delete it first", ErrConflict, name, old.PublicIP, old.AddressPrefixes)
		}
		if err := l.realizeSite(ctx, old); err != nil {
			return Site{}, err
		}
		return cloneSite(old), nil
	}
	if holder, ok := l.holders()[spec.PublicIP]; ok {
		return Site{}, fmt.Errorf("%w: public IP %s is held by %s", ErrAddressInUse, spec.PublicIP, holder)
	}
	l.st.Sites[name] = site
	if err := l.save(); err != nil {
		return Site{}, err
	}
	if err := l.realizeSite(ctx, site); err != nil {
		// Never leave a half-built site behind: it would block a
		// corrected request (409) until deleted by hand.
		if uerr := l.unrealizeSite(ctx, site); uerr != nil {
			l.log.Error("removing a site that failed to build", "site", name, "err", uerr)
		}
		return Site{}, err
	}
	l.log.Info("created site", "site", name, "publicIP", site.PublicIP, "ns", site.Namespace)
	return cloneSite(site), nil
}

// checkEndpointIP checks the public address of a site or client: TEST-NET
// and outside the API's public IP pool.
func (l *Lab) checkEndpointIP(a netip.Addr) error {
	if err := checkPublic(a); err != nil {
		return err
	}
	for _, p := range l.pool {
		if p.Contains(a) {
			return fmt.Errorf("%w: public IP %s is in the API's public IP pool %s, from which gateways get their addresses; pick a TEST-NET address outside it (for example from 192.0.2.0/24)", ErrInvalid, a, p)
		}
	}
	return nil
}

// GetSite returns a site.
func (l *Lab) GetSite(name string) (Site, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.st.Sites[strings.ToLower(name)]
	if !ok {
		return Site{}, fmt.Errorf("%w: site %s", ErrNotFound, name)
	}
	return cloneSite(s), nil
}

// Sites lists the sites by name.
func (l *Lab) Sites() []Site {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := []Site{}
	for _, k := range sortedKeys(l.st.Sites) {
		out = append(out, cloneSite(l.st.Sites[k]))
	}
	return out
}

// DeleteSite deletes a site's namespaces with the processes inside them.
// It returns ErrNotFound if there is no such site.
func (l *Lab) DeleteSite(ctx context.Context, name string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.st.Sites[strings.ToLower(name)]
	if !ok {
		return fmt.Errorf("%w: site %s", ErrNotFound, name)
	}
	if err := l.unrealizeSite(ctx, s); err != nil {
		return err
	}
	l.log.Info("deleted site", "site", s.Name)
	return nil
}

// unrealizeSite stops the processes in a site's namespaces, deletes them
// and its internet leg, and forgets the site; callers hold mu.
func (l *Lab) unrealizeSite(ctx context.Context, s *Site) error {
	for _, ns := range []string{s.Namespace, s.HostNamespace} {
		if err := l.stopProcessesIn(ctx, ns); err != nil {
			return err
		}
	}
	delete(l.st.Sites, s.Name)
	if err := l.removePublicLeg(s.Namespace); err != nil {
		return err
	}
	for _, ns := range []string{s.Namespace, s.HostNamespace} {
		if err := deleteNS(ctx, ns, l.stopTimeout); err != nil {
			return err
		}
	}
	return l.save()
}

// realizeSite makes the device and host namespaces, the internet leg, the
// LAN between them and their routes.
func (l *Lab) realizeSite(ctx context.Context, s *Site) error {
	for _, ns := range []string{s.Namespace, s.HostNamespace} {
		if _, err := ensureNS(ctx, ns); err != nil {
			return err
		}
	}
	if err := setSysctls(s.Namespace, routerSysctls()); err != nil {
		return err
	}
	if err := setSysctls(s.HostNamespace, hostSysctls()); err != nil {
		return err
	}
	if err := l.realizePublicLeg(ctx, s.Namespace, []netip.Addr{s.PublicIP}); err != nil {
		return err
	}
	dev, err := dial(s.Namespace)
	if err != nil {
		return err
	}
	defer dev.Close()
	host, err := dial(s.HostNamespace)
	if err != nil {
		return err
	}
	defer host.Close()
	if err := ensureVeth(dev, IfLAN, host, IfVM); err != nil {
		return err
	}
	bits := s.AddressPrefixes[0].Bits()
	if err := dev.setAddrs(IfLAN, []netip.Prefix{netip.PrefixFrom(s.DeviceIP, bits)}); err != nil {
		return err
	}
	if err := host.setAddrs(IfVM, []netip.Prefix{netip.PrefixFrom(s.HostIP, bits)}); err != nil {
		return err
	}
	if err := setSysctls(s.Namespace, ifSysctls(IfLAN, IfWAN)); err != nil {
		return err
	}
	if err := dev.setRoutes(l.endpointRoutes(s.Namespace), false); err != nil {
		return err
	}
	return host.setRoutes(l.endpointRoutes(s.HostNamespace), false)
}

func cloneSite(s *Site) Site {
	c := *s
	c.AddressPrefixes = slices.Clone(s.AddressPrefixes)
	return c
}
