package lab

// Frontends: public IPs the internet delivers to a gateway's instances by
// destination NAT, as Azure's load balancer puts a gateway's public IPs
// in front of its instances. vpngw uses one for the point-to-site public
// IP of an active-active gateway (its third ipConfiguration): the
// internet router (the internet namespace) rewrites the destination of
// what is sent to the frontend address to one instance's own public IP,
// and conntrack rewrites the replies' source back, so clients see only
// the frontend address.
//
// A frontend has a set of instances. With one, everything goes to it;
// with several, a flow's first datagram picks the instance by a hash of
// its source address (nftables jhash with a fixed seed, so the choice is
// stable and the same after a rebuild), so all of one client's IKE and
// ESP-in-UDP, whatever the ports, reach the same instance, and clients
// spread over the instances. Conntrack keeps the choice for the life of
// the flow: adding an instance to the set moves no live client. Taking
// one out rewrites the rules and deletes the router's conntrack entries
// that lead to that instance (and only those), so the next datagram of
// each of its clients' flows is hashed again over the instances left
// (without that, a client that keeps sending would stay pinned to the
// gone one); the other instances' clients keep their entries and never
// notice.
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
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// frontendTable is the nftables table of the frontends' rules.
const frontendTable = "vpngw_frontends"

// frontendSeed is the jhash seed of the frontends' rules: fixed, so a
// client's instance depends only on its address and the instance set
// (nftables would pick a random one per rule otherwise).
const frontendSeed = 0x7670

// SetFrontends sets the frontends of a gateway: each address is delivered
// to the instances of those indexes (to their first public IPs), a
// client's flows to one of them by the hash of its source address. nil or
// empty removes them. An address must be a TEST-NET address that no
// endpoint holds, with at least one instance.
func (l *Lab) SetFrontends(ctx context.Context, gatewayID string, fronts map[netip.Addr][]int) error {
	for a, set := range fronts {
		if err := checkPublic(a); err != nil {
			return err
		}
		if len(set) == 0 {
			return fmt.Errorf("%w: frontend %s: no instance", ErrInvalid, a)
		}
		for _, i := range set {
			if i < 0 || i >= MaxInstances {
				return fmt.Errorf("%w: frontend %s: instance %d out of range", ErrInvalid, a, i)
			}
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
	want := map[string][]int{}
	for a, set := range fronts {
		set = slices.Clone(set)
		slices.Sort(set)
		want[a.String()] = slices.Compact(set)
	}
	// The conntrack entries to delete: those of a removed frontend, and
	// those toward an instance taken out of a frontend's set.
	var gone []conntrackDNAT
	same := len(want) == len(g.Frontends)
	for a, set := range g.Frontends {
		now, ok := want[a]
		same = same && ok && slices.Equal(now, set)
		for _, i := range set {
			if ok && slices.Contains(now, i) {
				continue
			}
			d := conntrackDNAT{dst: netip.MustParseAddr(a)}
			if gi := g.Instances[i]; ok && gi != nil && len(gi.PublicIPs) > 0 {
				d.to = gi.PublicIPs[0]
			}
			gone = append(gone, d)
		}
	}
	if same {
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
	return flushConntrack(l.names.Internet(), gone)
}

// frontendRules is the nft script for the state's frontends: every
// frontend whose instance has a public IP.
func (l *Lab) frontendRules() string {
	var rules []string
	for _, id := range sortedKeys(l.st.Gateways) {
		g := l.st.Gateways[id]
		for a, set := range g.Frontends {
			var to []netip.Addr
			for _, i := range set {
				if gi := g.Instances[i]; gi != nil && len(gi.PublicIPs) > 0 {
					to = append(to, gi.PublicIPs[0])
				}
			}
			switch len(to) {
			case 0:
			case 1:
				rules = append(rules, fmt.Sprintf("\t\tip daddr %s dnat to %s\n", a, to[0]))
			default:
				var m []string
				for k, t := range to {
					m = append(m, fmt.Sprintf("%d : %s", k, t))
				}
				rules = append(rules, fmt.Sprintf("\t\tip daddr %s dnat to jhash ip saddr mod %d seed %#x map { %s }\n",
					a, len(to), frontendSeed, strings.Join(m, ", ")))
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

// conntrackDNAT selects connection tracking entries: those sent to dst
// and, if to is valid, translated to it.
type conntrackDNAT struct {
	// dst is the original destination (a frontend address).
	dst netip.Addr
	// to is the address dst was translated to (the reply's source), or
	// invalid for any.
	to netip.Addr
}

// flushConntrack deletes the connection tracking entries of namespace ns
// that one of sel selects.
func flushConntrack(ns string, sel []conntrackDNAT) error {
	if len(sel) == 0 || !nsPresent(ns) {
		return nil
	}
	c, err := dial(ns)
	if err != nil {
		return err
	}
	defer c.Close()
	var filters []netlink.CustomConntrackFilter
	for _, s := range sel {
		f := &netlink.ConntrackFilter{}
		if err := f.AddIP(netlink.ConntrackOrigDstIP, net.IP(s.dst.AsSlice())); err != nil {
			return err
		}
		if s.to.IsValid() {
			if err := f.AddIP(netlink.ConntrackReplySrcIP, net.IP(s.to.AsSlice())); err != nil {
				return err
			}
		}
		filters = append(filters, f)
	}
	if _, err := c.h.ConntrackDeleteFilters(netlink.ConntrackTable, unix.AF_INET, filters...); err != nil {
		return fmt.Errorf("lab: deleting conntrack entries in %s: %w", ns, err)
	}
	return nil
}
