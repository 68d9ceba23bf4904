package vpndevice

import (
	"fmt"
	"strings"

	"github.com/vpngw/vpngw/internal/transform"
)

// renderStrongSwan writes a swanctl.conf: one connection per gateway
// instance, one child per Child SA, and the secret.
func renderStrongSwan(b *builder, p *plan) {
	b.header("#", p, "strongSwan (swanctl.conf)")
	b.line("# Install as /etc/swanctl/conf.d/%s.conf and run 'swanctl --load-all'.", sanitize(p.Connection))
	b.line("")
	b.line("connections {")
	for i, gw := range p.GatewayAddrs {
		name := p.tunnelName(i)
		b.line("\t%s {", name)
		b.line("\t\tversion = %d", map[bool]int{true: 1, false: 2}[p.IKEv1])
		if p.DeviceAddr.IsValid() {
			b.line("\t\tlocal_addrs = %s", p.DeviceAddr)
		}
		b.line("\t\tremote_addrs = %s", gw)
		b.line("\t\tproposals = %s", transform.FormatProposals(p.ike))
		if p.IKEv1 {
			b.line("\t\treauth_time = %ds", int(p.ikeLife.Seconds()))
		} else {
			b.line("\t\trekey_time = %ds", int(p.ikeLife.Seconds()))
		}
		if p.dpd > 0 {
			b.line("\t\tdpd_delay = %ds", int(p.dpd.Seconds()))
			if p.IKEv1 {
				b.line("\t\tdpd_timeout = %ds", p.DPDTimeoutSeconds)
			}
		}
		b.line("\t\tlocal {")
		b.line("\t\t\tauth = psk")
		b.line("\t\t\tid = %s", p.deviceID())
		b.line("\t\t}")
		b.line("\t\tremote {")
		b.line("\t\t\tauth = psk")
		b.line("\t\t\tid = %s", gw)
		b.line("\t\t}")
		b.line("\t\tchildren {")
		for j, pr := range p.pairs {
			child := name + "-net"
			if len(p.pairs) > 1 {
				child += fmt.Sprintf("-%d", j)
			}
			b.line("\t\t\t%s {", child)
			b.line("\t\t\t\tlocal_ts = %s", joinPrefixes(pr.local, ","))
			b.line("\t\t\t\tremote_ts = %s", joinPrefixes(pr.remote, ","))
			b.line("\t\t\t\tesp_proposals = %s", transform.FormatProposals(p.esp))
			b.line("\t\t\t\tmode = tunnel")
			b.line("\t\t\t\trekey_time = %ds", int(p.childLife.Seconds()))
			b.line("\t\t\t\trekey_bytes = %d", p.childKB*1024)
			if p.deviceInitiates() {
				b.line("\t\t\t\tstart_action = start")
				b.line("\t\t\t\tclose_action = start")
			} else {
				b.line("\t\t\t\tstart_action = none")
			}
			if p.dpd > 0 {
				b.line("\t\t\t\tdpd_action = restart")
			}
			b.line("\t\t\t}")
		}
		b.line("\t\t}")
		b.line("\t}")
	}
	b.line("}")
	b.line("")
	b.line("secrets {")
	b.line("\tike-%s {", sanitize(p.Connection))
	b.line("\t\tid-device = %s", p.deviceID())
	for i, gw := range p.GatewayAddrs {
		b.line("\t\tid-azure%d = %s", i, gw)
	}
	b.line("\t\tsecret = %s", swanQuote(p.SharedKey))
	b.line("\t}")
	b.line("}")
}

// swanQuote quotes s for strongSwan's settings syntax.
func swanQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
