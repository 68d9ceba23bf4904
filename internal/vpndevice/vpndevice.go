// Package vpndevice writes the configuration of an on-premises VPN device
// for one site-to-site connection: Azure's "Download configuration"
// (connections/{name}/vpndeviceconfigurationscript) and the device list it
// chooses from (virtualNetworkGateways/{name}/supportedvpndevices).
//
// It is pure: Params carries the connection as the gateway's agents see it
// (gateway addresses, prefixes, IKE version, policy, DPD, shared key),
// parsed once by the caller, and Generate renders text. The proposals come
// from package transform, the same tables the agents negotiate with: a
// custom ipsecPolicy becomes its single IKE and ESP proposal
// (transform.FromAzurePolicy), otherwise the device offers Azure's own
// default initiator lists, each of which Azure accepts as responder.
//
// A script contains the shared key. Callers serve it only where the key
// itself may be read, and never log it.
package vpndevice

import (
	"encoding/xml"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/vpngw/vpngw/internal/transform"
)

// Device is one entry of the device list: a vendor, a device family and a
// firmware version, as supportedvpndevices lists them and
// vpndeviceconfigurationscript takes them.
type Device struct {
	// Vendor, Family and Firmware are the names, matched
	// case-insensitively.
	Vendor, Family, Firmware string
	// routeBasedOnly: the device's configuration is a tunnel interface,
	// which cannot serve policy-based traffic selectors.
	routeBasedOnly bool
	// render writes the script.
	render func(b *builder, p *plan)
}

// devices is the catalog, in the order the list shows it.
var devices = []Device{
	{Vendor: "strongSwan", Family: "swanctl.conf", Firmware: "5.9 and later", render: renderStrongSwan},
	{Vendor: "Libreswan", Family: "ipsec.conf", Firmware: "4.x", render: renderLibreswan},
	{Vendor: "Cisco", Family: "IOS route-based VTI", Firmware: "IOS 15.4 and later, IOS XE 16 and later", routeBasedOnly: true, render: renderCisco},
	{Vendor: "Generic", Family: "Parameters (text)", Firmware: "any", render: renderGeneric},
}

// Devices returns the catalog.
func Devices() []Device { return slices.Clone(devices) }

// SupportedDevicesXML is the body of supportedvpndevices: Azure's
// RpVpnDeviceList document.
func SupportedDevicesXML() string {
	type fw struct {
		Name string `xml:"name,attr"`
	}
	type family struct {
		Name     string `xml:"name,attr"`
		Firmware []fw   `xml:"FirmwareVersion"`
	}
	type vendor struct {
		Name     string   `xml:"name,attr"`
		Families []family `xml:"DeviceFamily"`
	}
	doc := struct {
		XMLName xml.Name `xml:"RpVpnDeviceList"`
		Version string   `xml:"version,attr"`
		Vendors []vendor `xml:"Vendor"`
	}{Version: "1.0"}
	for _, d := range devices {
		if len(doc.Vendors) == 0 || doc.Vendors[len(doc.Vendors)-1].Name != d.Vendor {
			doc.Vendors = append(doc.Vendors, vendor{Name: d.Vendor})
		}
		v := &doc.Vendors[len(doc.Vendors)-1]
		v.Families = append(v.Families, family{Name: d.Family, Firmware: []fw{{Name: d.Firmware}}})
	}
	b, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		panic(fmt.Sprintf("vpndevice: device list: %v", err)) // plain structs: cannot fail
	}
	return xml.Header + string(b) + "\n"
}

// LookupError says which field of a device choice names nothing in the
// catalog.
type LookupError struct {
	// Field is "vendor", "deviceFamily" or "firmwareVersion".
	Field string
	// Message is a sentence naming the known values.
	Message string
}

func (e *LookupError) Error() string { return e.Field + ": " + e.Message }

// Lookup finds a device by vendor, family and firmware
// (case-insensitively).
func Lookup(vendor, family, firmware string) (Device, error) {
	var known []string
	match := func(field, want string, ok func(Device) bool, name func(Device) string) error {
		known = known[:0]
		for _, d := range devices {
			if ok(d) && !slices.Contains(known, name(d)) {
				known = append(known, name(d))
			}
		}
		for _, k := range known {
			if strings.EqualFold(k, strings.TrimSpace(want)) {
				return nil
			}
		}
		return &LookupError{Field: field, Message: fmt.Sprintf("%s '%s' is not supported; supported: %s.", field, want, strings.Join(known, ", "))}
	}
	eq := strings.EqualFold
	all := func(Device) bool { return true }
	if err := match("vendor", vendor, all, func(d Device) string { return d.Vendor }); err != nil {
		return Device{}, err
	}
	ofVendor := func(d Device) bool { return eq(d.Vendor, strings.TrimSpace(vendor)) }
	if err := match("deviceFamily", family, ofVendor, func(d Device) string { return d.Family }); err != nil {
		return Device{}, err
	}
	ofFamily := func(d Device) bool { return ofVendor(d) && eq(d.Family, strings.TrimSpace(family)) }
	if err := match("firmwareVersion", firmware, ofFamily, func(d Device) string { return d.Firmware }); err != nil {
		return Device{}, err
	}
	for _, d := range devices {
		if ofFamily(d) && eq(d.Firmware, strings.TrimSpace(firmware)) {
			return d, nil
		}
	}
	panic("vpndevice: lookup: matched fields without a device")
}

// Params is one site-to-site connection as the device must see it.
type Params struct {
	// Connection is the connection's name (comments and section names).
	Connection string
	// GatewayAddrs are the Azure gateway's public addresses, one per
	// instance that carries the connection: two on an active-active
	// gateway, one tunnel each.
	GatewayAddrs []netip.Addr
	// DeviceAddr is the device's public address (the local network
	// gateway's gatewayIpAddress); invalid when the site is known by
	// DeviceFQDN.
	DeviceAddr netip.Addr
	// DeviceFQDN is the local network gateway's fqdn, when it has no
	// address.
	DeviceFQDN string
	// AzurePrefixes are the virtual network's address space; SitePrefixes
	// the local network gateway's.
	AzurePrefixes, SitePrefixes []netip.Prefix
	// IKEv1 is set for connectionProtocol IKEv1.
	IKEv1 bool
	// PolicyBased is set for a PolicyBased gateway (IKEv1, one SA per
	// prefix pair, no DPD, 3,600 s Quick Mode lifetime).
	PolicyBased bool
	// PolicyBasedSelectors is usePolicyBasedTrafficSelectors.
	PolicyBasedSelectors bool
	// Policy is the connection's custom IPsec/IKE policy; nil for Azure's
	// defaults.
	Policy *transform.IpsecPolicy
	// DPDTimeoutSeconds is the connection's dpdTimeoutSeconds; 0 for none
	// (PolicyBased).
	DPDTimeoutSeconds int
	// ConnectionMode is Default, InitiatorOnly or ResponderOnly (Azure's
	// side: ResponderOnly means the device must initiate).
	ConnectionMode string
	// SharedKey is the pre-shared key.
	SharedKey string
	// BGP is set when the connection runs BGP.
	BGP *BGP
}

// BGP is the BGP session of a connection.
type BGP struct {
	// GatewayASN and GatewayPeers are the Azure gateway's ASN and its
	// instances' BGP peering addresses.
	GatewayASN   int64
	GatewayPeers []netip.Addr
	// DeviceASN and DevicePeer are the local network gateway's.
	DeviceASN  int64
	DevicePeer netip.Addr
}

// plan is Params with what every renderer derives from it.
type plan struct {
	*Params
	// ike and esp are the proposals the device offers, in order.
	ike, esp []transform.Proposal
	// ikeLife, childLife and childKB are the lifetimes.
	ikeLife, childLife time.Duration
	childKB            int64
	// custom is set when the proposals come from a custom policy.
	custom bool
	// pairs are the Child SAs' selectors: one all-prefixes pair, or one
	// per prefix pair where each must be its own SA (IKEv1 with
	// policy-based selectors).
	pairs []pair
	// dpd is the device's DPD probe interval (0: none).
	dpd time.Duration
}

// pair is one Child SA's traffic selectors, from the device's side.
type pair struct {
	local, remote []netip.Prefix
}

// Generate renders the configuration of device d for p.
// A device that cannot serve the connection (a tunnel interface for a
// PolicyBased gateway) is a *LookupError on deviceFamily.
func Generate(d Device, p Params) (string, error) {
	if d.routeBasedOnly && (p.PolicyBased || p.PolicyBasedSelectors) {
		return "", &LookupError{Field: "deviceFamily", Message: fmt.Sprintf(
			"deviceFamily '%s' is a route-based tunnel interface; it cannot connect a PolicyBased gateway or a connection with usePolicyBasedTrafficSelectors.", d.Family)}
	}
	pl, err := newPlan(&p)
	if err != nil {
		return "", err
	}
	b := &builder{}
	d.render(b, pl)
	return b.String(), nil
}

func newPlan(p *Params) (*plan, error) {
	if len(p.GatewayAddrs) == 0 {
		return nil, fmt.Errorf("vpndevice: the gateway has no public address yet")
	}
	if len(p.AzurePrefixes) == 0 || len(p.SitePrefixes) == 0 {
		return nil, fmt.Errorf("vpndevice: both sides need address prefixes")
	}
	pl := &plan{Params: p, ikeLife: transform.AzureIKELifetime, childLife: transform.AzureChildLifetime, childKB: transform.AzureV1QuickModeLifeKB}
	switch {
	case p.Policy != nil:
		ikeP, espP, err := transform.FromAzurePolicy(*p.Policy)
		if err != nil {
			return nil, fmt.Errorf("vpndevice: %w", err)
		}
		pl.ike, pl.esp, pl.custom = []transform.Proposal{ikeP}, []transform.Proposal{espP}, true
		pl.childLife = time.Duration(p.Policy.SaLifeTimeSeconds) * time.Second
		pl.childKB = p.Policy.SaDataSizeKilobytes
	case p.IKEv1:
		pl.ike = transform.AzureV1MainModeProposals(p.PolicyBased)
		pl.esp = transform.AzureV1QuickModeProposals(p.PolicyBased, true)
		if p.PolicyBased {
			pl.childLife = transform.AzureV1QuickModeLifetimePolicyBased
		}
	default:
		pl.ike = transform.AzureDefaultIKEProposals()
		pl.esp = transform.AzureDefaultESPInitiator()
	}
	if p.IKEv1 && (p.PolicyBased || p.PolicyBasedSelectors) {
		for _, l := range p.SitePrefixes {
			for _, r := range p.AzurePrefixes {
				pl.pairs = append(pl.pairs, pair{local: []netip.Prefix{l}, remote: []netip.Prefix{r}})
			}
		}
	} else {
		pl.pairs = []pair{{local: p.SitePrefixes, remote: p.AzurePrefixes}}
	}
	if p.DPDTimeoutSeconds > 0 && !p.PolicyBased {
		// Azure declares the device dead after dpdTimeoutSeconds without
		// an answer; the device probes at a third of that.
		pl.dpd = time.Duration(max(p.DPDTimeoutSeconds/3, 3)) * time.Second
	}
	return pl, nil
}

// deviceInitiates reports whether the device should bring the tunnel up
// itself: unless Azure's side is InitiatorOnly (then the device only
// answers).
func (p *plan) deviceInitiates() bool { return !strings.EqualFold(p.ConnectionMode, "InitiatorOnly") }

// deviceID is the device's IKE identity: its address, or its FQDN.
func (p *plan) deviceID() string {
	if p.DeviceAddr.IsValid() {
		return p.DeviceAddr.String()
	}
	return p.DeviceFQDN
}

// version is "IKEv1" or "IKEv2".
func (p *plan) version() string {
	if p.IKEv1 {
		return "IKEv1"
	}
	return "IKEv2"
}

// tunnelName names the tunnel to gateway instance i.
func (p *plan) tunnelName(i int) string {
	n := sanitize(p.Connection)
	if len(p.GatewayAddrs) > 1 {
		n += fmt.Sprintf("-gw%d", i)
	}
	return n
}

// sanitize keeps letters, digits, '-' and '_' (section and object names).
func sanitize(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "azure"
	}
	return b.String()
}

// builder accumulates a script.
type builder struct{ strings.Builder }

// line writes one formatted line.
func (b *builder) line(format string, args ...any) {
	fmt.Fprintf(b, format, args...)
	b.WriteByte('\n')
}

// header writes the comment block every script starts with, each line
// prefixed with c.
func (b *builder) header(c string, p *plan, d string) {
	b.line("%s %s configuration for the Azure-style connection '%s'", c, d, p.Connection)
	b.line("%s generated by vpngw from the connection's current settings.", c)
	b.line("%s", c)
	for i, a := range p.GatewayAddrs {
		b.line("%s Azure gateway instance %d: %s", c, i, a)
	}
	b.line("%s This device: %s", c, p.deviceID())
	b.line("%s Azure networks: %s", c, joinPrefixes(p.AzurePrefixes, ", "))
	b.line("%s Site networks:  %s", c, joinPrefixes(p.SitePrefixes, ", "))
	pol := "Azure's default proposals"
	if p.custom {
		pol = "the connection's custom IPsec/IKE policy " + p.Policy.String()
	}
	b.line("%s %s, %s; IKE SA lifetime %d s, IPsec SA lifetime %d s / %d KB", c, p.version(), pol,
		int(p.ikeLife.Seconds()), int(p.childLife.Seconds()), p.childKB)
	if p.dpd > 0 {
		b.line("%s Dead peer detection: Azure times out after %d s; this device probes every %d s.", c, p.DPDTimeoutSeconds, int(p.dpd.Seconds()))
	}
	b.line("%s Clamp TCP MSS to 1350 bytes (or set the tunnel MTU to 1400) as Azure recommends.", c)
	b.line("%s This file contains the pre-shared key: keep it secret.", c)
	b.line("")
}

func joinPrefixes(ps []netip.Prefix, sep string) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, sep)
}

func itoa(i int) string     { return fmt.Sprint(i) }
func itoa64(i int64) string { return fmt.Sprint(i) }
