package lab

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// rtprotoLab marks every route the lab installs (ip route shows "proto
// 200"), so that replacing a namespace's routes never touches routes that
// someone else (the kernel, an agent, an IPsec daemon) put there.
const rtprotoLab netlink.RouteProtocol = 200

// nsConn is a netlink connection into one named namespace. It is opened for
// one operation and closed after it: namespaces can be deleted and
// recreated behind the lab's back, and a cached handle would keep talking to
// the old one.
type nsConn struct {
	name string
	fd   netns.NsHandle
	h    *netlink.Handle
}

// dial opens a netlink connection into the named namespace.
func dial(name string) (*nsConn, error) {
	fd, err := netns.GetFromName(name)
	if err != nil {
		return nil, fmt.Errorf("lab: open namespace %s: %w", name, err)
	}
	h, err := netlink.NewHandleAt(fd)
	if err != nil {
		fd.Close()
		return nil, fmt.Errorf("lab: netlink in %s: %w", name, err)
	}
	return &nsConn{name: name, fd: fd, h: h}, nil
}

func (c *nsConn) Close() {
	c.h.Close()
	c.fd.Close()
}

func (c *nsConn) errorf(format string, args ...any) error {
	return fmt.Errorf("lab: %s: "+format, append([]any{c.name}, args...)...)
}

// link returns the named link, or nil when there is none.
func (c *nsConn) link(name string) (netlink.Link, error) {
	l, err := c.h.LinkByName(name)
	var nf netlink.LinkNotFoundError
	if errors.As(err, &nf) {
		return nil, nil
	}
	if err != nil {
		return nil, c.errorf("link %s: %w", name, err)
	}
	return l, nil
}

// links lists the namespace's links, retrying interrupted dumps.
func (c *nsConn) links() ([]netlink.Link, error) {
	for i := 0; ; i++ {
		ls, err := c.h.LinkList()
		if errors.Is(err, netlink.ErrDumpInterrupted) && i < 5 {
			continue
		}
		if err != nil {
			return nil, c.errorf("list links: %w", err)
		}
		return ls, nil
	}
}

// delLink deletes the named link if it exists.
func (c *nsConn) delLink(name string) error {
	l, err := c.link(name)
	if err != nil || l == nil {
		return err
	}
	if err := c.h.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
		return c.errorf("delete link %s: %w", name, err)
	}
	return nil
}

// up brings the named link up.
func (c *nsConn) up(name string) (netlink.Link, error) {
	l, err := c.link(name)
	if err != nil {
		return nil, err
	}
	if l == nil {
		return nil, c.errorf("link %s missing", name)
	}
	if l.Attrs().Flags&net.FlagUp == 0 {
		if err := c.h.LinkSetUp(l); err != nil {
			return nil, c.errorf("set %s up: %w", name, err)
		}
	}
	return l, nil
}

// ensureVeth makes aName in a and bName in b the two ends of one veth pair,
// both up. An end whose peer is missing or is not the other end is deleted
// and the pair recreated: that is what is left when one of the namespaces
// was deleted and made again. The pair is created directly in the two
// namespaces, never in the root namespace.
func ensureVeth(a *nsConn, aName string, b *nsConn, bName string) error {
	la, err := a.link(aName)
	if err != nil {
		return err
	}
	lb, err := b.link(bName)
	if err != nil {
		return err
	}
	if la != nil && lb != nil && paired(la, lb) {
		if _, err := a.up(aName); err != nil {
			return err
		}
		_, err := b.up(bName)
		return err
	}
	if la != nil {
		if err := a.delLink(aName); err != nil {
			return err
		}
	}
	if lb != nil {
		if err := b.delLink(bName); err != nil {
			return err
		}
	}
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: aName},
		PeerName:      bName,
		PeerNamespace: netlink.NsFd(b.fd),
	}
	// A namespace deleted by hand takes its links with it asynchronously;
	// a name can stay taken for a moment.
	deadline := time.Now().Add(3 * time.Second)
	for {
		err = a.h.LinkAdd(veth)
		if !errors.Is(err, unix.EEXIST) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
		a.delLink(aName)
		b.delLink(bName)
	}
	if err != nil {
		return fmt.Errorf("lab: veth %s/%s in %s/%s: %w", aName, bName, a.name, b.name, err)
	}
	if _, err := a.up(aName); err != nil {
		return err
	}
	_, err = b.up(bName)
	return err
}

// paired reports whether two veth ends point at each other (each one's
// IFLA_LINK is the other's index).
func paired(a, b netlink.Link) bool {
	_, va := a.(*netlink.Veth)
	_, vb := b.(*netlink.Veth)
	return va && vb && a.Attrs().ParentIndex == b.Attrs().Index && b.Attrs().ParentIndex == a.Attrs().Index
}

// ensureBridge makes the named link a bridge with the given MAC, up.
func (c *nsConn) ensureBridge(name string, mac net.HardwareAddr) (netlink.Link, error) {
	l, err := c.link(name)
	if err != nil {
		return nil, err
	}
	if l != nil && l.Type() != "bridge" {
		if err := c.delLink(name); err != nil {
			return nil, err
		}
		l = nil
	}
	if l == nil {
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name, HardwareAddr: mac}}
		if err := c.h.LinkAdd(br); err != nil {
			return nil, c.errorf("bridge %s: %w", name, err)
		}
	}
	return c.up(name)
}

// setMaster enslaves the named link to master unless it already is.
func (c *nsConn) setMaster(name string, master netlink.Link) error {
	l, err := c.link(name)
	if err != nil {
		return err
	}
	if l == nil {
		return c.errorf("link %s missing", name)
	}
	if l.Attrs().MasterIndex == master.Attrs().Index {
		return nil
	}
	if err := c.h.LinkSetMaster(l, master); err != nil {
		return c.errorf("attach %s to %s: %w", name, master.Attrs().Name, err)
	}
	return nil
}

// setAddrs gives the named link exactly the IPv4 addresses want (replace
// semantics: others are removed).
func (c *nsConn) setAddrs(name string, want []netip.Prefix) error {
	l, err := c.link(name)
	if err != nil {
		return err
	}
	if l == nil {
		return c.errorf("link %s missing", name)
	}
	have, err := c.h.AddrList(l, netlink.FAMILY_V4)
	if err != nil {
		return c.errorf("addresses of %s: %w", name, err)
	}
	for _, a := range have {
		p := prefixOf(a.IPNet)
		if !slices.Contains(want, p) {
			if err := c.h.AddrDel(l, &a); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
				return c.errorf("remove %s from %s: %w", p, name, err)
			}
		}
	}
	for _, p := range want {
		if err := c.h.AddrReplace(l, &netlink.Addr{IPNet: ipNet(p)}); err != nil {
			return c.errorf("add %s to %s: %w", p, name, err)
		}
	}
	return nil
}

// labRoute is a route the lab installs in the main table: to Dst via Gw
// (when valid), or on-link out of Dev (when Gw is not valid). With Onlink,
// Gw is reachable out of Dev although no address of Dev covers it (the
// public endpoints' default route to the internet router, whose address
// lies in no subnet of theirs).
type labRoute struct {
	Dst    netip.Prefix
	Gw     netip.Addr
	Dev    string
	Onlink bool
}

// setRoutes makes the namespace's IPv4 lab routes (proto 200, main table)
// exactly want: missing ones are added, changed ones replaced and others
// removed. Routes of other protocols are not touched. With partial, routes
// out of a link that does not exist (yet) are left out instead of failing.
func (c *nsConn) setRoutes(want []labRoute, partial bool) error {
	have, err := c.labRoutes()
	if err != nil {
		return err
	}
	keep := map[netip.Prefix]bool{}
	for _, r := range want {
		keep[r.Dst] = true
	}
	for _, r := range have {
		if !keep[prefixOf(r.Dst)] {
			if err := c.h.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
				return c.errorf("remove route %s: %w", r.Dst, err)
			}
		}
	}
	for _, w := range want {
		r := netlink.Route{Dst: ipNet(w.Dst), Protocol: rtprotoLab, Table: unix.RT_TABLE_MAIN}
		if w.Dev != "" {
			l, err := c.link(w.Dev)
			if err != nil {
				return err
			}
			if l == nil && partial {
				continue
			}
			if l == nil {
				return c.errorf("route %s: link %s missing", w.Dst, w.Dev)
			}
			r.LinkIndex = l.Attrs().Index
		}
		if w.Gw.IsValid() {
			r.Gw = w.Gw.AsSlice()
			if w.Onlink {
				r.Flags = int(netlink.FLAG_ONLINK)
			}
		} else {
			r.Scope = netlink.SCOPE_LINK
		}
		if err := c.h.RouteReplace(&r); err != nil {
			return c.errorf("route %s via %v dev %q: %w", w.Dst, w.Gw, w.Dev, err)
		}
	}
	return nil
}

// labRoutes lists the namespace's IPv4 lab routes in the main table.
func (c *nsConn) labRoutes() ([]netlink.Route, error) {
	filter := &netlink.Route{Protocol: rtprotoLab, Table: unix.RT_TABLE_MAIN}
	for i := 0; ; i++ {
		rs, err := c.h.RouteListFiltered(netlink.FAMILY_V4, filter, netlink.RT_FILTER_PROTOCOL|netlink.RT_FILTER_TABLE)
		if errors.Is(err, netlink.ErrDumpInterrupted) && i < 5 {
			continue
		}
		if err != nil {
			return nil, c.errorf("list routes: %w", err)
		}
		return rs, nil
	}
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func prefixOf(n *net.IPNet) netip.Prefix {
	if n == nil {
		return netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	}
	a, _ := netip.AddrFromSlice(n.IP)
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), ones)
}

// macFor is a locally administered unicast MAC derived from key, so that a
// bridge keeps its address when it is recreated (neighbours' ARP caches
// stay valid).
func macFor(key string) net.HardwareAddr {
	h := sha256.Sum256([]byte("mac:" + strings.ToLower(key)))
	return net.HardwareAddr{0x02, 0x76, h[0], h[1], h[2], h[3]}
}
