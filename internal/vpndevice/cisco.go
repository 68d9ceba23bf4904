package vpndevice

import (
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/vpngw/vpngw/internal/transform"
)

// ciscoMaxKB is the largest IPsec SA volume lifetime IOS accepts.
const ciscoMaxKB = 4194303

// renderCisco writes IOS configuration for a route-based tunnel interface
// (VTI) per gateway instance.
func renderCisco(b *builder, p *plan) {
	b.header("!", p, "Cisco IOS (route-based VTI)")
	name := "azure-" + sanitize(p.Connection)
	wan := "GigabitEthernet1"
	b.line("! REPLACE %s below with the outside interface that holds %s.", wan, p.deviceID())
	b.line("!")
	if p.IKEv1 {
		for i, pr := range p.ike {
			b.line("crypto isakmp policy %d", 10*(i+1))
			b.line(" encr %s", ciscoISAKMPEncr.name(pr.Encr[0]))
			b.line(" hash %s", ciscoISAKMPHash(pr.Integ[0]))
			b.line(" authentication pre-share")
			b.line(" group %d", pr.DH[0])
			b.line(" lifetime %d", int(p.ikeLife.Seconds()))
			b.line("!")
		}
		for _, gw := range p.GatewayAddrs {
			b.line("crypto isakmp key %s address %s", p.SharedKey, gw)
		}
		if p.dpd > 0 {
			b.line("crypto isakmp keepalive %d 5 on-demand", int(p.dpd.Seconds()))
		}
		b.line("!")
	} else {
		for i, pr := range p.ike {
			b.line("crypto ikev2 proposal %s-%d", name, i+1)
			b.line(" encryption %s", ciscoJoin(len(pr.Encr), func(j int) string { return ciscoIKEv2Encr.name(pr.Encr[j]) }))
			if len(pr.Integ) > 0 {
				b.line(" integrity %s", ciscoJoin(len(pr.Integ), func(j int) string { return hashName(transform.TypeINTEG, pr.Integ[j]) }))
			} else {
				b.line(" prf %s", ciscoJoin(len(pr.PRF), func(j int) string { return hashName(transform.TypePRF, pr.PRF[j]) }))
			}
			b.line(" group %s", ciscoJoin(len(pr.DH), func(j int) string { return fmt.Sprint(int(pr.DH[j])) }))
			b.line("!")
		}
		b.line("crypto ikev2 policy %s", name)
		for i := range p.ike {
			b.line(" proposal %s-%d", name, i+1)
		}
		b.line("!")
		b.line("crypto ikev2 keyring %s", name)
		for i, gw := range p.GatewayAddrs {
			b.line(" peer azure-gw%d", i)
			b.line("  address %s", gw)
			b.line("  pre-shared-key %s", p.SharedKey)
			b.line(" !")
		}
		b.line("!")
		b.line("crypto ikev2 profile %s", name)
		b.line(" match address local interface %s", wan)
		for _, gw := range p.GatewayAddrs {
			b.line(" match identity remote address %s 255.255.255.255", gw)
		}
		b.line(" authentication remote pre-share")
		b.line(" authentication local pre-share")
		b.line(" keyring local %s", name)
		b.line(" lifetime %d", int(p.ikeLife.Seconds()))
		if p.dpd > 0 {
			b.line(" dpd %d 5 on-demand", int(p.dpd.Seconds()))
		}
		b.line("!")
	}
	var sets []string
	var pfs transform.ID
	for i, e := range p.esp {
		set := fmt.Sprintf("%s-%d", name, i+1)
		sets = append(sets, set)
		b.line("crypto ipsec transform-set %s %s", set, ciscoTransformSet(e))
		b.line(" mode tunnel")
		if len(e.DH) > 0 {
			pfs = e.DH[0]
		}
	}
	b.line("!")
	b.line("crypto ipsec profile %s", name)
	b.line(" set transform-set %s", strings.Join(sets, " "))
	if !p.IKEv1 {
		b.line(" set ikev2-profile %s", name)
	}
	b.line(" set security-association lifetime seconds %d", int(p.childLife.Seconds()))
	if p.childKB > ciscoMaxKB {
		b.line(" ! Azure rekeys after %d KB, more than IOS can count: no volume lifetime here.", p.childKB)
		b.line(" set security-association lifetime kilobytes disable")
	} else {
		b.line(" set security-association lifetime kilobytes %d", p.childKB)
	}
	if pfs != transform.DHNone {
		b.line(" set pfs group%d", int(pfs))
	}
	b.line("!")
	for i, gw := range p.GatewayAddrs {
		b.line("interface Tunnel%d", 10+i)
		b.line(" description Azure connection %s, gateway instance %d", p.Connection, i)
		b.line(" ip unnumbered %s", wan)
		b.line(" ip tcp adjust-mss 1350")
		b.line(" tunnel source %s", wan)
		b.line(" tunnel mode ipsec ipv4")
		b.line(" tunnel destination %s", gw)
		b.line(" tunnel protection ipsec profile %s", name)
		b.line("!")
	}
	for _, pr := range p.AzurePrefixes {
		for i := range p.GatewayAddrs {
			b.line("ip route %s %s Tunnel%d", pr.Masked().Addr(), mask(pr), 10+i)
		}
	}
	if p.BGP != nil {
		b.line("!")
		for i, peer := range p.BGP.GatewayPeers {
			b.line("ip route %s 255.255.255.255 Tunnel%d", peer, 10+min(i, len(p.GatewayAddrs)-1))
		}
		b.line("router bgp %d", p.BGP.DeviceASN)
		for _, peer := range p.BGP.GatewayPeers {
			b.line(" neighbor %s remote-as %d", peer, p.BGP.GatewayASN)
			b.line(" neighbor %s ebgp-multihop 255", peer)
		}
		b.line(" address-family ipv4")
		for _, pr := range p.SitePrefixes {
			b.line("  network %s mask %s", pr.Masked().Addr(), mask(pr))
		}
		for _, peer := range p.BGP.GatewayPeers {
			b.line("  neighbor %s activate", peer)
		}
		b.line(" exit-address-family")
	}
	b.line("end")
}

// ciscoJoin joins n keywords with spaces.
func ciscoJoin(n int, f func(int) string) string {
	s := make([]string, n)
	for i := range s {
		s[i] = f(i)
	}
	return strings.Join(s, " ")
}

// mask is the dotted netmask of an IPv4 prefix.
func mask(p netip.Prefix) string {
	m := net.CIDRMask(p.Bits(), 32)
	return netip.AddrFrom4([4]byte(m)).String()
}
