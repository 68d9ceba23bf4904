package vpndevice

import (
	"strings"

	"github.com/vpngw/vpngw/internal/transform"
)

// renderGeneric writes the parameters as text, for any device.
func renderGeneric(b *builder, p *plan) {
	b.header("#", p, "Generic")
	kv := func(k string, v any) { b.line("%-34s %v", k+":", v) }
	for i, gw := range p.GatewayAddrs {
		kv("Azure gateway address (tunnel "+itoa(i)+")", gw)
	}
	kv("Device address / identity", p.deviceID())
	kv("Authentication", "pre-shared key, identities are the addresses")
	kv("Pre-shared key", p.SharedKey)
	kv("IKE version", p.version())
	kv("Azure networks (remote)", joinPrefixes(p.AzurePrefixes, ", "))
	kv("Site networks (local)", joinPrefixes(p.SitePrefixes, ", "))
	sel := "one SA with all prefixes (route-based)"
	if len(p.pairs) > 1 {
		sel = "one SA per site prefix × Azure prefix pair"
	}
	kv("Traffic selectors", sel)
	for i, pr := range p.ike {
		kv("IKE proposal "+itoa(i+1), describe(pr, false))
	}
	kv("IKE SA lifetime", itoa(int(p.ikeLife.Seconds()))+" s")
	for i, pr := range p.esp {
		kv("IPsec proposal "+itoa(i+1), describe(pr, true))
	}
	kv("IPsec SA lifetime", itoa(int(p.childLife.Seconds()))+" s, "+itoa64(p.childKB)+" KB")
	if p.dpd > 0 {
		kv("Dead peer detection", "on; Azure's timeout "+itoa(p.DPDTimeoutSeconds)+" s")
	} else {
		kv("Dead peer detection", "off")
	}
	kv("Who initiates", map[bool]string{true: "both sides (the device should start the tunnel)", false: "Azure only; the device answers"}[p.deviceInitiates()])
	kv("TCP MSS clamp", "1350 bytes (or tunnel MTU 1400)")
	if p.BGP != nil {
		kv("BGP: Azure ASN", p.BGP.GatewayASN)
		peers := make([]string, len(p.BGP.GatewayPeers))
		for i, a := range p.BGP.GatewayPeers {
			peers[i] = a.String()
		}
		kv("BGP: Azure peering addresses", strings.Join(peers, ", "))
		kv("BGP: device ASN", p.BGP.DeviceASN)
		kv("BGP: device peering address", p.BGP.DevicePeer)
	}
}

// describe names a proposal's transforms as strongSwan logs them.
func describe(p transform.Proposal, esp bool) string {
	var parts []string
	for _, e := range p.Encr {
		parts = append(parts, e.Name())
	}
	for _, id := range p.Integ {
		parts = append(parts, transform.Name(transform.TypeINTEG, id))
	}
	for _, id := range p.PRF {
		parts = append(parts, transform.Name(transform.TypePRF, id))
	}
	switch {
	case len(p.DH) > 0:
		for _, id := range p.DH {
			parts = append(parts, transform.Name(transform.TypeDH, id))
		}
	case esp:
		parts = append(parts, "no PFS")
	}
	return strings.Join(parts, " / ")
}
