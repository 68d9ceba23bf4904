package resource

import (
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"
)

func TestValidateName(t *testing.T) {
	tests := []struct {
		typ, name string
		ok        bool
	}{
		{TypeVirtualNetworks, "vnet-1.a_b", true},
		{TypeVirtualNetworks, "9abc_", true},
		{TypeVirtualNetworks, "", false},
		{TypeVirtualNetworks, "_abc", false},
		{TypeVirtualNetworks, "abc-", false},
		{TypeVirtualNetworks, "ab(c)", false},
		{TypeVirtualNetworks, "vnét", false},
		{TypeResourceGroups, "rg(1)-x.y_z", true},
		{TypeResourceGroups, "rg.", false},
		{TypeResourceGroups, "", false},
		{TypeResourceGroups, "a/b", false},
	}
	for _, tt := range tests {
		err := ValidateName(tt.typ, tt.name, "name")
		if tt.ok != (err == nil) {
			t.Errorf("ValidateName(%s, %q) = %v", tt.typ, tt.name, err)
		}
		if err != nil {
			expectErr(t, err, CodeInvalidResourceName, "name")
		}
	}
}

func TestValidateTags(t *testing.T) {
	expectErr(t, ValidateTags(map[string]string{"a": "b"}, "tags"), "", "")
	expectErr(t, ValidateTags(nTags(51), "tags"), CodeInvalidTag, "tags", "50")
}

func TestSharedKey(t *testing.T) {
	r := rand.NewChaCha8([32]byte{5})
	seen := map[string]bool{}
	for range 100 {
		k, err := GenerateSharedKey(r, DefaultSharedKeyLength)
		if err != nil {
			t.Fatal(err)
		}
		if len(k) != 32 || ValidateSharedKey(k, "k") != nil || seen[k] {
			t.Fatalf("bad or repeated key %q", k)
		}
		seen[k] = true
	}
	for _, n := range []int{1, 128} {
		if k, err := GenerateSharedKey(r, n); err != nil || len(k) != n {
			t.Errorf("length %d: %q %v", n, k, err)
		}
	}
	for _, n := range []int{0, 129} {
		if _, err := GenerateSharedKey(r, n); err == nil {
			t.Errorf("length %d accepted", n)
		}
	}
	if _, err := GenerateSharedKey(iotest.ErrReader(errBoom), 32); !errors.Is(err, errBoom) {
		t.Errorf("reader failure: %v", err)
	}
	if _, err := GenerateSharedKey(nil, 32); err == nil {
		t.Error("nil reader accepted")
	}
	// Every byte value maps into the alphabet or is rejected: a reader of
	// constant 0xff bytes (rejected) must not loop forever with a real one.
	k, err := GenerateSharedKey(io.MultiReader(strings.NewReader(strings.Repeat("\xff", 48)), r), 32)
	if err != nil || len(k) != 32 {
		t.Errorf("rejection sampling: %q %v", k, err)
	}
	expectErr(t, ValidateSharedKey("", "value"), CodeInvalidSharedKey, "value", "empty")
	expectErr(t, ValidateSharedKey("a\tb", "value"), CodeInvalidSharedKey, "value", "0x09")
	if err := ValidateSharedKey("topsecret key", "value"); strings.Contains(err.Error(), "topsecret") {
		t.Error("error message contains the key")
	}
}

func TestReservedASN(t *testing.T) {
	reserved := []int64{0, 8074, 8075, 12076, 23456, 64496, 64511, 65515, 65517, 65518, 65519, 65520, 65535, 65540, 65551, 4294967295}
	free := []int64{1, 8073, 64512, 65514, 65516, 65521, 65534, 65552, 4200000000}
	for _, a := range reserved {
		if _, r := ReservedASN(a); !r {
			t.Errorf("%d not reserved", a)
		}
	}
	for _, a := range free {
		if _, r := ReservedASN(a); r {
			t.Errorf("%d reserved", a)
		}
	}
	if validateASN(65515, true, "x") != nil || validateASN(65515, false, "x") == nil || validateASN(-1, true, "x") == nil {
		t.Error("validateASN gateway/site handling")
	}
}

func TestPrepareDefaults(t *testing.T) {
	r := rand.NewChaCha8([32]byte{6})
	p := &PublicIPAddress{Envelope: Envelope{Location: "West  Europe"}}
	if err := Prepare(p, nil, r); err != nil {
		t.Fatal(err)
	}
	if p.Location != "westeurope" || p.SKU != (PublicIPAddressSku{"Standard", "Regional"}) || p.Properties.PublicIPAllocationMethod != "Static" ||
		p.Properties.PublicIPAddressVersion != "IPv4" || p.Properties.IdleTimeoutInMinutes != 4 || p.Properties.ResourceGUID == "" {
		t.Errorf("public IP defaults %+v", p)
	}
	b := &PublicIPAddress{SKU: PublicIPAddressSku{Name: "basic"}, Properties: PublicIPAddressProperties{IPAddress: "1.2.3.4", PublicIPAddressVersion: "ipv6"}}
	if err := Prepare(b, nil, r); err != nil {
		t.Fatal(err)
	}
	if b.SKU.Name != "Basic" || b.Properties.PublicIPAllocationMethod != "Dynamic" || b.Properties.IPAddress != "" || b.Properties.PublicIPAddressVersion != "IPv6" {
		t.Errorf("basic public IP %+v", b)
	}
	// Read-only fields come from old.
	old := *p
	old.Properties.IPAddress = "198.51.100.1"
	old.Properties.DNSSettings = &PublicIPAddressDNSSettings{DomainNameLabel: "x", Fqdn: "x.westeurope.example"}
	upd := &PublicIPAddress{Envelope: Envelope{Location: "westeurope"}, Properties: PublicIPAddressProperties{
		IPAddress: "9.9.9.9", DNSSettings: &PublicIPAddressDNSSettings{DomainNameLabel: "x", Fqdn: "forged"}}}
	if err := Prepare(upd, &old, r); err != nil {
		t.Fatal(err)
	}
	if upd.Properties.IPAddress != "198.51.100.1" || upd.Properties.DNSSettings.Fqdn != "x.westeurope.example" || upd.Properties.ResourceGUID != p.Properties.ResourceGUID {
		t.Errorf("public IP update %+v", upd.Properties)
	}

	g := &VirtualNetworkGateway{Properties: VirtualNetworkGatewayProperties{SKU: VirtualNetworkGatewaySku{Name: "vpngw4az"},
		IPConfigurations: []VirtualNetworkGatewayIPConfiguration{{}, {}},
		BgpSettings:      &BgpSettings{BgpPeeringAddress: "forged"}}}
	if err := Prepare(g, nil, r); err != nil {
		t.Fatal(err)
	}
	gp := g.Properties
	if gp.GatewayType != "Vpn" || gp.VpnType != "RouteBased" || gp.SKU.Name != "VpnGw4AZ" || gp.SKU.Tier != "VpnGw4AZ" ||
		gp.VpnGatewayGeneration != "Generation2" || gp.BgpSettings.ASN != 65515 || gp.BgpSettings.BgpPeeringAddress != "" ||
		gp.IPConfigurations[0].Name != "default" || gp.IPConfigurations[1].Name != "activeActive" ||
		gp.IPConfigurations[0].Properties.PrivateIPAllocationMethod != "Dynamic" {
		t.Errorf("gateway defaults %+v", gp)
	}
	er := &VirtualNetworkGateway{Properties: VirtualNetworkGatewayProperties{GatewayType: "expressroute", SKU: VirtualNetworkGatewaySku{Name: "ergw1az"}}}
	if err := Prepare(er, nil, r); err != nil {
		t.Fatal(err)
	}
	if er.Properties.GatewayType != "ExpressRoute" || er.Properties.VpnType != "" || er.Properties.VpnGatewayGeneration != "None" || er.Properties.BgpSettings != nil {
		t.Errorf("ExpressRoute defaults %+v", er.Properties)
	}

	// RADIUS secrets and immutable fields omitted on update are kept.
	oldG := &VirtualNetworkGateway{Properties: VirtualNetworkGatewayProperties{GatewayType: "Vpn", VpnType: "PolicyBased", VpnGatewayGeneration: "Generation1",
		SKU: VirtualNetworkGatewaySku{Name: "Basic"},
		VpnClientConfiguration: &VpnClientConfiguration{RadiusServerAddress: "10.0.0.1", RadiusServerSecret: "s1",
			RadiusServers: []RadiusServer{{RadiusServerAddress: "10.0.0.2", RadiusServerSecret: "s2"}}}}}
	newG := Redact(oldG).(*VirtualNetworkGateway)
	newG.Properties.GatewayType, newG.Properties.VpnType, newG.Properties.VpnGatewayGeneration = "", "", ""
	newG.Properties.VpnClientConfiguration.RadiusServers = append(newG.Properties.VpnClientConfiguration.RadiusServers, RadiusServer{RadiusServerAddress: "10.0.0.3"})
	if err := Prepare(newG, oldG, r); err != nil {
		t.Fatal(err)
	}
	c := newG.Properties.VpnClientConfiguration
	if c.RadiusServerSecret != "s1" || c.RadiusServers[0].RadiusServerSecret != "s2" || c.RadiusServers[1].RadiusServerSecret != "" {
		t.Errorf("RADIUS secrets %+v", c)
	}
	if newG.Properties.VpnType != "PolicyBased" || newG.Properties.VpnGatewayGeneration != "Generation1" || newG.Properties.GatewayType != "Vpn" {
		t.Errorf("immutables not kept: %+v", newG.Properties)
	}
	// Canonical enum spelling inside P2S.
	pg := &VirtualNetworkGateway{Properties: VirtualNetworkGatewayProperties{SKU: VirtualNetworkGatewaySku{Name: "VpnGw1"},
		VpnClientConfiguration: &VpnClientConfiguration{VpnClientProtocols: []string{"ikev2", "openvpn"}, VpnAuthenticationTypes: []string{"aad", "radius"},
			VpnClientRevokedCertificates: []VpnClientRevokedCertificate{{Properties: VpnClientRevokedCertificateProperties{Thumbprint: "ab"}}},
			VpnClientIpsecPolicies:       []IpsecPolicy{{IkeEncryption: "aes256"}}}}}
	if err := Prepare(pg, nil, r); err != nil {
		t.Fatal(err)
	}
	pc := pg.Properties.VpnClientConfiguration
	if strings.Join(pc.VpnClientProtocols, ",") != "IkeV2,OpenVPN" || strings.Join(pc.VpnAuthenticationTypes, ",") != "AAD,Radius" ||
		pc.VpnClientRevokedCertificates[0].Properties.Thumbprint != "AB" || pc.VpnClientIpsecPolicies[0].IkeEncryption != "AES256" {
		t.Errorf("P2S canonical %+v", pc)
	}

	cn := &Connection{Properties: ConnectionProperties{ConnectionType: "ipsec", ConnectionMode: "initiatoronly",
		IpsecPolicies: []IpsecPolicy{{DhGroup: "ecp384", PfsGroup: "pfsmm", IpsecIntegrity: "gcmaes128", IkeIntegrity: "sha384", IpsecEncryption: "none"}}}}
	if err := Prepare(cn, nil, r); err != nil {
		t.Fatal(err)
	}
	cp := cn.Properties
	if cp.ConnectionType != "IPsec" || cp.ConnectionMode != "InitiatorOnly" || cp.ConnectionProtocol != "" ||
		cp.IpsecPolicies[0] != (IpsecPolicy{DhGroup: "ECP384", PfsGroup: "PFSMM", IpsecIntegrity: "GCMAES128", IkeIntegrity: "SHA384", IpsecEncryption: "None"}) ||
		cp.TrafficSelectorPolicies == nil {
		t.Errorf("connection canonical %+v", cp)
	}
	if err := Prepare(&Connection{}, nil, iotest.ErrReader(errBoom)); !errors.Is(err, errBoom) {
		t.Errorf("random failure: %v", err)
	}
	for _, o := range []Object{&VirtualNetwork{}, &LocalNetworkGateway{}, &PublicIPAddress{}, &VirtualNetworkGateway{}} {
		if err := Prepare(o, nil, iotest.ErrReader(errBoom)); !errors.Is(err, errBoom) {
			t.Errorf("%T random failure: %v", o, err)
		}
	}
	if err := Prepare(&ResourceGroup{Envelope: Envelope{Location: "East US"}}, nil, nil); err != nil {
		t.Error(err)
	}
}

func TestPrepareSubnetsAndIDs(t *testing.T) {
	r := rand.NewChaCha8([32]byte{7})
	old := stdVNet("vnet1")
	AssignIDs(old, id(TypeVirtualNetworks, "vnet1"))
	old.Properties.Subnets[1].Properties.IPConfigurations = []SubResource{{ID: "x"}}
	old.Properties.Subnets[1].Etag = "e1"
	v := stdVNet("vnet1")
	v.Properties.Subnets[1].Properties.IPConfigurations = []SubResource{{ID: "forged"}}
	v.Properties.Subnets[0].Properties.IPConfigurations = []SubResource{{ID: "forged"}}
	AssignIDs(v, id(TypeVirtualNetworks, "vnet1"))
	if err := Prepare(v, old, r); err != nil {
		t.Fatal(err)
	}
	s0, s1 := v.Properties.Subnets[0], v.Properties.Subnets[1]
	if s0.Properties.IPConfigurations != nil || s1.Properties.IPConfigurations[0].ID != "x" || s1.Etag != "e1" {
		t.Errorf("subnet read-only fields: %+v %+v", s0, s1)
	}
	if s1.ID != subnetRef("vnet1", GatewaySubnetName).ID || s1.Type != ARMTypeSubnet {
		t.Errorf("subnet id/type %q %q", s1.ID, s1.Type)
	}
	if v.ID != id(TypeVirtualNetworks, "vnet1").String() || v.Type != ARMTypeVirtualNetwork || v.Name != "vnet1" {
		t.Errorf("envelope %+v", v.Envelope)
	}
	v.SetProvisioningState(ProvisioningUpdating)
	if v.ProvisioningState() != ProvisioningUpdating || v.Properties.Subnets[1].ProvisioningState() != ProvisioningUpdating {
		t.Error("SetProvisioningState on VNet")
	}
	s := &Subnet{}
	if err := Prepare(s, nil, r); err != nil || s.Type != ARMTypeSubnet {
		t.Errorf("subnet prepare %v %+v", err, s)
	}
	g := &ResourceGroup{}
	AssignIDs(g, ID{Subscription: testSub, ResourceGroup: "RG1"})
	if g.Name != "RG1" || g.Type != ARMTypeResourceGroup || g.Meta().ID != "/subscriptions/"+testSub+"/resourceGroups/RG1" {
		t.Errorf("group envelope %+v", g.Envelope)
	}
	g.SetProvisioningState(ProvisioningSucceeded)
	if g.ProvisioningState() != ProvisioningSucceeded {
		t.Error("group provisioning state")
	}
	sub := &Subnet{}
	AssignIDs(sub, subnetID("vnet1", "a"))
	if sub.Name != "a" || sub.Type != ARMTypeSubnet {
		t.Errorf("subnet envelope %+v", sub.Envelope)
	}
}

func TestObjectAccessors(t *testing.T) {
	objs := []Object{&ResourceGroup{}, &VirtualNetwork{}, &Subnet{}, &PublicIPAddress{}, &VirtualNetworkGateway{
		Properties: VirtualNetworkGatewayProperties{IPConfigurations: make([]VirtualNetworkGatewayIPConfiguration, 2)}}, &LocalNetworkGateway{}, &Connection{}}
	for _, o := range objs {
		o.SetProvisioningState(ProvisioningDeleting)
		if o.ProvisioningState() != ProvisioningDeleting {
			t.Errorf("%T provisioning state", o)
		}
		o.Meta().Name = "n"
		if o.Meta().Name != "n" {
			t.Errorf("%T Meta", o)
		}
	}
	if g := objs[4].(*VirtualNetworkGateway); g.Properties.IPConfigurations[1].Properties.ProvisioningState != ProvisioningDeleting {
		t.Error("gateway ipConfiguration provisioning state")
	}
	c := &Connection{}
	c.SetSharedKey("k1")
	if c.SharedKeyValue() != "k1" {
		t.Error("shared key accessors")
	}
}

func TestIpsecPolicyValues(t *testing.T) {
	v := IpsecPolicyValues("pfsGroup")
	if !strings.Contains(strings.Join(v, ","), "PFS14,PFSMM") {
		t.Errorf("pfsGroup values %v", v)
	}
	v[0] = "changed"
	if IpsecPolicyValues("pfsGroup")[0] != "None" {
		t.Error("IpsecPolicyValues shares its slice")
	}
	for _, f := range []string{"ikeEncryption", "ikeIntegrity", "dhGroup", "ipsecEncryption", "ipsecIntegrity"} {
		if len(IpsecPolicyValues(f)) == 0 {
			t.Errorf("no values for %s", f)
		}
	}
	if IpsecPolicyValues("nope") != nil {
		t.Error("unknown field has values")
	}
	if s := goodPolicy().String(); !strings.Contains(s, "GCMAES256") {
		t.Errorf("String() = %q", s)
	}
}

func TestErrorShape(t *testing.T) {
	var l errList
	if l.err() != nil || !l.empty() {
		t.Fatal("empty list")
	}
	l.addf(CodeInvalidParameter, "a", "first")
	l.addAll(Validate(&PublicIPAddress{SKU: PublicIPAddressSku{Name: "x"}}))
	e, _ := AsError(l.err())
	if e.Target != "a" || len(e.Details) < 2 || e.HTTPStatus() != 400 {
		t.Fatalf("error %+v", e)
	}
	if !strings.Contains(e.Error(), "target a") {
		t.Errorf("Error() = %q", e.Error())
	}
}
