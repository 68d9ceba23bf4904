package vpndevice

import (
	"encoding/base64"
	"strings"

	"github.com/vpngw/vpngw/internal/transform"
)

// renderLibreswan writes an ipsec.conf conn per gateway instance and the
// ipsec.secrets lines.
func renderLibreswan(b *builder, p *plan) {
	b.header("#", p, "Libreswan (ipsec.conf)")
	name := sanitize(p.Connection)
	b.line("# Part 1: /etc/ipsec.d/%s.conf", name)
	b.line("")
	for i, gw := range p.GatewayAddrs {
		b.line("conn %s", p.tunnelName(i))
		b.line("\tauthby=secret")
		if p.IKEv1 {
			b.line("\tikev2=no")
		} else {
			b.line("\tikev2=yes")
		}
		if p.deviceInitiates() {
			b.line("\tauto=start")
		} else {
			b.line("\tauto=add")
		}
		if p.DeviceAddr.IsValid() {
			b.line("\tleft=%s", p.DeviceAddr)
			b.line("\tleftid=%s", p.DeviceAddr)
		} else {
			b.line("\tleft=%%defaultroute")
			b.line("\tleftid=@%s", p.DeviceFQDN)
		}
		b.line("\tleftsubnets={%s}", joinPrefixes(p.SitePrefixes, " "))
		b.line("\tright=%s", gw)
		b.line("\trightid=%s", gw)
		b.line("\trightsubnets={%s}", joinPrefixes(p.AzurePrefixes, " "))
		b.line("\tike=%s", libreswanList(p.ike, false))
		b.line("\tesp=%s", libreswanList(p.esp, true))
		pfs := "no"
		for _, e := range p.esp {
			if len(e.DH) > 0 {
				pfs = "yes"
			}
		}
		b.line("\tpfs=%s", pfs)
		b.line("\tikelifetime=%ds", int(p.ikeLife.Seconds()))
		b.line("\tsalifetime=%ds", int(p.childLife.Seconds()))
		if p.dpd > 0 {
			b.line("\tdpddelay=%ds", int(p.dpd.Seconds()))
			b.line("\tdpdtimeout=%ds", p.DPDTimeoutSeconds)
			b.line("\tdpdaction=restart")
		}
		b.line("")
	}
	b.line("# Part 2: /etc/ipsec.d/%s.secrets", name)
	b.line("")
	id := p.deviceID()
	if !p.DeviceAddr.IsValid() {
		id = "@" + id
	}
	for _, gw := range p.GatewayAddrs {
		b.line("%s %s : PSK %s", id, gw, libreswanSecret(p.SharedKey))
	}
}

// libreswanList renders a proposal list.
func libreswanList(ps []transform.Proposal, esp bool) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = libreswanProposal(p, esp)
	}
	return strings.Join(s, ",")
}

// libreswanSecret quotes a key; one with a quote or backslash is written
// in libreswan's base64 form (0s...), which needs no escaping.
func libreswanSecret(key string) string {
	if strings.ContainsAny(key, `"\`) {
		return "0s" + base64.StdEncoding.EncodeToString([]byte(key))
	}
	return `"` + key + `"`
}
