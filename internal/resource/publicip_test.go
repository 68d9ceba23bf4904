package resource

import "testing"

func TestValidatePublicIP(t *testing.T) {
	runValidate(t, func() *PublicIPAddress { return newPIP("pip1") }, []vcase[*PublicIPAddress]{
		{name: "valid"},
		{name: "basic dynamic", mut: func(p *PublicIPAddress) { p.SKU.Name = "basic"; p.Properties.PublicIPAllocationMethod = "dynamic" }},
		{name: "unknown sku", mut: func(p *PublicIPAddress) { p.SKU.Name = "Premium" }, code: CodeInvalidParameter, target: "sku.name", msg: []string{"Basic, Standard"}},
		{name: "unknown tier", mut: func(p *PublicIPAddress) { p.SKU.Tier = "Local" }, code: CodeInvalidParameter, target: "sku.tier"},
		{name: "global needs standard", mut: func(p *PublicIPAddress) { p.SKU = PublicIPAddressSku{Name: "Basic", Tier: "Global"} }, code: CodeInvalidParameter, target: "sku.tier"},
		{name: "standard dynamic", mut: func(p *PublicIPAddress) { p.Properties.PublicIPAllocationMethod = "Dynamic" },
			code: CodeInvalidParameter, target: "properties.publicIPAllocationMethod", msg: []string{"Static"}},
		{name: "bad allocation", mut: func(p *PublicIPAddress) { p.Properties.PublicIPAllocationMethod = "Sticky" },
			code: CodeInvalidParameter, target: "properties.publicIPAllocationMethod"},
		{name: "bad version", mut: func(p *PublicIPAddress) { p.Properties.PublicIPAddressVersion = "IPv5" },
			code: CodeInvalidParameter, target: "properties.publicIPAddressVersion"},
		{name: "idle 30", mut: func(p *PublicIPAddress) { p.Properties.IdleTimeoutInMinutes = 30 }},
		{name: "idle 31", mut: func(p *PublicIPAddress) { p.Properties.IdleTimeoutInMinutes = 31 }, code: CodeInvalidParameter, target: "properties.idleTimeoutInMinutes"},
		{name: "idle 3", mut: func(p *PublicIPAddress) { p.Properties.IdleTimeoutInMinutes = 3 }, code: CodeInvalidParameter, target: "properties.idleTimeoutInMinutes"},
		{name: "zones ok", mut: func(p *PublicIPAddress) { p.Zones = []string{"1", "2", "3"} }},
		{name: "zone 4", mut: func(p *PublicIPAddress) { p.Zones = []string{"4"} }, code: CodeInvalidParameter, target: "zones[0]"},
		{name: "zone twice", mut: func(p *PublicIPAddress) { p.Zones = []string{"1", "1"} }, code: CodeInvalidParameter, target: "zones[1]"},
		{name: "basic zonal", mut: func(p *PublicIPAddress) {
			p.SKU.Name, p.Properties.PublicIPAllocationMethod, p.Zones = "Basic", "Static", []string{"1"}
		}, code: CodeInvalidParameter, target: "zones"},
		{name: "dns label ok", mut: func(p *PublicIPAddress) {
			p.Properties.DNSSettings = &PublicIPAddressDNSSettings{DomainNameLabel: "vpn-gw1"}
		}},
		{name: "dns label bad", mut: func(p *PublicIPAddress) {
			p.Properties.DNSSettings = &PublicIPAddressDNSSettings{DomainNameLabel: "Bad_Label"}
		},
			code: CodeInvalidParameter, target: "properties.dnsSettings.domainNameLabel"},
		{name: "reverse fqdn bad", mut: func(p *PublicIPAddress) {
			p.Properties.DNSSettings = &PublicIPAddressDNSSettings{ReverseFqdn: "-x.example."}
		},
			code: CodeInvalidParameter, target: "properties.dnsSettings.reverseFqdn"},
	})
}

func TestResolvePublicIP(t *testing.T) {
	gw := func(w *world) { w.mustPut(newGateway("gw1", "vnet1", "pip1")) }
	pip := func(name string, f func(*PublicIPAddress)) func(*world) Object {
		return func(w *world) Object {
			p := w.get(TypePublicIPAddresses, name).(*PublicIPAddress)
			f(p)
			return p
		}
	}
	runResolve(t, []rcase{
		{name: "tags on used IP", setup: gw, obj: pip("pip1", func(p *PublicIPAddress) { p.Tags = map[string]string{"a": "b"} })},
		{name: "sku of used IP", setup: gw, obj: pip("pip1", func(p *PublicIPAddress) {
			p.SKU.Name, p.Properties.PublicIPAllocationMethod = "Basic", "Static"
		}), code: CodeInUseCannotUpdate, target: "sku.name", msg: []string{"ipconfig1"}},
		{name: "version of used IP", setup: gw, obj: pip("pip1", func(p *PublicIPAddress) { p.Properties.PublicIPAddressVersion = "IPv6" }),
			code: CodeInUseCannotUpdate, target: "properties.publicIPAddressVersion"},
		{name: "sku of free IP", setup: gw, obj: pip("pip2", func(p *PublicIPAddress) { p.SKU.Name, p.Properties.PublicIPAllocationMethod = "Basic", "Dynamic" })},
		{name: "location immutable", obj: pip("pip2", func(p *PublicIPAddress) { p.Location = "eastus" }), code: CodeInvalidLocation, target: "location"},
	})
}
