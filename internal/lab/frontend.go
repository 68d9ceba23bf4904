package lab

// Frontends: public IPs the internet delivers to a gateway instance by
// destination NAT, as Azure's load balancer puts a gateway's public IPs
// in front of its instances. vpngw uses one for the point-to-site public
// IP of an active-active gateway (its third ipConfiguration): the
// internet router (the internet namespace) rewrites the destination of
// what is sent to the frontend address to the chosen instance's own
// public IP, and conntrack rewrites the replies' source back, so clients
// see only the frontend address. Moving a frontend to another instance
// rewrites the rules and deletes the router's conntrack entries for that
// address, so the next datagram of every client flow goes to the new
// instance (without that, a client that keeps sending would stay
// pinned to the old one).
//
// The rules live in one nftables table, vpngw_frontends, in the
// internet namespace, rebuilt whole (nft -f, one transaction) from the
// state on every change and when the internet is realized.

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"sort"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// frontendTable is the nftables table of the frontends' rules.
const frontendTable = "vpngw_frontends"

// SetFrontends sets the frontends of a gateway: each address is delivered
// to the instance of that index (to its first public IP). nil or empty
// removes them. An address must be a TEST-NET address that no endpoint
// holds.
func (l *Lab) SetFrontends(ctx context.Context, gatewayID string, fronts map[netip.Addr]int) error {
	for a, i := range fronts {
		if err := checkPublic(a); err != nil {
			return err
		}
		if i < 0 || i >= MaxInstances {
			return fmt.Errorf("%w: frontend %s: instance %d out of range", ErrInvalid, a, i)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	g := l.st.Gateways[strings.ToLower(gatewayID)]
	if g == nil {
		if len(fronts) == 0 {
			return nil
		}
		return fmt.Errorf("%w: gateway %s", ErrNotFound, gatewayID)
	}
	holders := l.holders()
	for a := range fronts {
		if ns, ok := holders[a]; ok {
			return fmt.Errorf("%w: frontend %s is held by %s", ErrAddressInUse, a, ns)
		}
	}
	want := map[string]int{}
	for a, i := range fronts {
		want[a.String()] = i
	}
	var moved []netip.Addr
	for a, i := range g.Frontends {
		if j, ok := want[a]; !ok || j != i {
			moved = append(moved, netip.MustParseAddr(a))
		}
	}
	if len(moved) == 0 && len(want) == len(g.Frontends) {
		return nil
	}
	g.Frontends = want
	if len(want) == 0 {
		g.Frontends = nil
	}
	if err := l.save(); err != nil {
		return err
	}
	if err := l.syncFrontends(ctx); err != nil {
		return err
	}
	l.log.Info("frontends set", "gateway", gatewayID, "frontends", want)
	return flushConntrack(l.names.Internet(), moved)
}

// frontendRules is the nft script for the state's frontends: every
// frontend whose instance has a public IP.
func (l *Lab) frontendRules() string {
	var rules []string
	for _, id := range sortedKeys(l.st.Gateways) {
		g := l.st.Gateways[id]
		for a, i := range g.Frontends {
			if gi := g.Instances[i]; gi != nil && len(gi.PublicIPs) > 0 {
				rules = append(rules, fmt.Sprintf("\t\tip daddr %s dnat to %s\n", a, gi.PublicIPs[0]))
			}
		}
	}
	sort.Strings(rules)
	var b strings.Builder
	// Declaring the table first makes deleting it valid when it is absent.
	fmt.Fprintf(&b, "table ip %s {}\ndelete table ip %s\n", frontendTable, frontendTable)
	if len(rules) == 0 {
		return b.String()
	}
	fmt.Fprintf(&b, "table ip %s {\n\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n%s\t}\n}\n",
		frontendTable, strings.Join(rules, ""))
	return b.String()
}

// syncFrontends applies frontendRules in the internet namespace (if it
// exists). Callers hold l.mu.
func (l *Lab) syncFrontends(ctx context.Context) error {
	ns := l.names.Internet()
	if !nsPresent(ns) {
		return nil
	}
	script := l.frontendRules()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	nft := "nft"
	if _, err := exec.LookPath(nft); err != nil {
		nft = "/usr/sbin/nft"
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, nft, "-f", "-")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(script), &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("lab: frontend rules in %s (nft, Debian package nftables): %w: %s", ns, err, strings.TrimSpace(out.String()))
	}
	return nil
}

// flushConntrack deletes the connection tracking entries of namespace ns
// whose original destination is one of addrs.
func flushConntrack(ns string, addrs []netip.Addr) error {
	if len(addrs) == 0 || !nsPresent(ns) {
		return nil
	}
	c, err := dial(ns)
	if err != nil {
		return err
	}
	defer c.Close()
	var filters []netlink.CustomConntrackFilter
	for _, a := range addrs {
		f := &netlink.ConntrackFilter{}
		if err := f.AddIP(netlink.ConntrackOrigDstIP, net.IP(a.AsSlice())); err != nil {
			return err
		}
		filters = append(filters, f)
	}
	if _, err := c.h.ConntrackDeleteFilters(netlink.ConntrackTable, unix.AF_INET, filters...); err != nil {
		return fmt.Errorf("lab: deleting conntrack entries in %s: %w", ns, err)
	}
	return nil
}
