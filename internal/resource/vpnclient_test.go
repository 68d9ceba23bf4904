package resource

import (
	"fmt"
	"strings"
	"testing"
)

func TestValidateVpnClientConfiguration(t *testing.T) {
	cert := testCert(t)
	base := func() *VirtualNetworkGateway {
		g := newGateway("gw1", "vnet1", "pip1")
		g.Properties.VpnClientConfiguration = p2sConfig(t, "172.16.201.0/24")
		return g
	}
	const t0 = "properties.vpnClientConfiguration"
	cfg := func(g *VirtualNetworkGateway) *VpnClientConfiguration { return g.Properties.VpnClientConfiguration }
	radius := func(c *VpnClientConfiguration) {
		c.VpnAuthenticationTypes = []string{"Radius"}
		c.RadiusServerAddress, c.RadiusServerSecret = "10.1.0.10", "s3cret"
	}
	aad := func(c *VpnClientConfiguration) {
		c.VpnAuthenticationTypes, c.VpnClientProtocols = []string{"AAD"}, []string{"OpenVPN"}
		c.AadTenant = "https://login.microsoftonline.com/0000/"
		c.AadAudience = "41b23e61-6c1e-4545-b367-cd054e0ed4b4"
		c.AadIssuer = "https://sts.windows.net/0000/"
	}
	runValidate(t, base, []vcase[*VirtualNetworkGateway]{
		{name: "valid"},
		{name: "empty object means none", mut: func(g *VirtualNetworkGateway) { g.Properties.VpnClientConfiguration = &VpnClientConfiguration{} }},
		{name: "default protocols", mut: func(g *VirtualNetworkGateway) { cfg(g).VpnClientProtocols = nil }},
		{name: "pool missing", mut: func(g *VirtualNetworkGateway) { cfg(g).VpnClientAddressPool = nil },
			code: CodeMissingParameter, target: t0 + ".vpnClientAddressPool.addressPrefixes"},
		{name: "pool not private", mut: func(g *VirtualNetworkGateway) { cfg(g).VpnClientAddressPool.AddressPrefixes = []string{"8.8.8.0/24"} },
			code: CodeVpnClientConfiguration, target: t0 + ".vpnClientAddressPool.addressPrefixes[0]", msg: []string{"private"}},
		{name: "pool /29", mut: func(g *VirtualNetworkGateway) {
			cfg(g).VpnClientAddressPool.AddressPrefixes = []string{"172.16.201.0/29"}
		}},
		{name: "pool /30", mut: func(g *VirtualNetworkGateway) {
			cfg(g).VpnClientAddressPool.AddressPrefixes = []string{"172.16.201.0/30"}
		},
			code: CodeVpnClientConfiguration, target: t0 + ".vpnClientAddressPool.addressPrefixes[0]", msg: []string{"/29"}},
		{name: "pool /29 active-active", mut: func(g *VirtualNetworkGateway) {
			c := cfg(g)
			*g = *newGateway("gw1", "vnet1", "pip1", "pip2", "pip3")
			g.Properties.VpnClientConfiguration = c
			c.VpnClientAddressPool.AddressPrefixes = []string{"172.16.201.0/29"}
		}, code: CodeVpnClientConfiguration, target: t0 + ".vpnClientAddressPool.addressPrefixes[0]", msg: []string{"/28", "active-active"}},
		{name: "pool overlaps itself", mut: func(g *VirtualNetworkGateway) {
			cfg(g).VpnClientAddressPool.AddressPrefixes = []string{"172.16.0.0/16", "172.16.201.0/24"}
		}, code: CodeAddressOverlap, target: t0 + ".vpnClientAddressPool.addressPrefixes[1]"},
		{name: "pool non-canonical", mut: func(g *VirtualNetworkGateway) {
			cfg(g).VpnClientAddressPool.AddressPrefixes = []string{"172.16.201.1/24"}
		},
			code: CodeInvalidCIDR, target: t0 + ".vpnClientAddressPool.addressPrefixes[0]"},
		{name: "protocol unknown", mut: func(g *VirtualNetworkGateway) { cfg(g).VpnClientProtocols = []string{"L2TP"} },
			code: CodeInvalidParameter, target: t0 + ".vpnClientProtocols[0]"},
		{name: "protocol twice", mut: func(g *VirtualNetworkGateway) { cfg(g).VpnClientProtocols = []string{"IkeV2", "ikev2"} },
			code: CodeVpnClientConfiguration, target: t0 + ".vpnClientProtocols[1]"},
		{name: "IkeV2 and SSTP", mut: func(g *VirtualNetworkGateway) { cfg(g).VpnClientProtocols = []string{"IkeV2", "SSTP"} }},
		{name: "IkeV2 and OpenVPN", mut: func(g *VirtualNetworkGateway) { cfg(g).VpnClientProtocols = []string{"IkeV2", "OpenVPN"} }},
		{name: "SSTP and OpenVPN", mut: func(g *VirtualNetworkGateway) { cfg(g).VpnClientProtocols = []string{"SSTP", "OpenVPN"} },
			code: CodeVpnClientConfiguration, target: t0 + ".vpnClientProtocols", msg: []string{"SSTP", "OpenVPN"}},
		{name: "auth unknown", mut: func(g *VirtualNetworkGateway) { cfg(g).VpnAuthenticationTypes = []string{"Kerberos"} },
			code: CodeInvalidParameter, target: t0 + ".vpnAuthenticationTypes[0]"},
		{name: "auth twice", mut: func(g *VirtualNetworkGateway) { cfg(g).VpnAuthenticationTypes = []string{"Certificate", "certificate"} },
			code: CodeVpnClientConfiguration, target: t0 + ".vpnAuthenticationTypes[1]"},
		{name: "certificate without roots", mut: func(g *VirtualNetworkGateway) { cfg(g).VpnClientRootCertificates = nil },
			code: CodeMissingParameter, target: t0 + ".vpnClientRootCertificates"},
		{name: "20 roots", mut: func(g *VirtualNetworkGateway) { cfg(g).VpnClientRootCertificates = nRoots(20, cert) }},
		{name: "21 roots", mut: func(g *VirtualNetworkGateway) { cfg(g).VpnClientRootCertificates = nRoots(21, cert) },
			code: CodeLimitExceeded, target: t0 + ".vpnClientRootCertificates"},
		{name: "root name twice", mut: func(g *VirtualNetworkGateway) {
			c := cfg(g)
			c.VpnClientRootCertificates = append(c.VpnClientRootCertificates, c.VpnClientRootCertificates[0])
		}, code: CodeVpnClientConfiguration, target: t0 + ".vpnClientRootCertificates[1].name"},
		{name: "root no name", mut: func(g *VirtualNetworkGateway) { cfg(g).VpnClientRootCertificates[0].Name = "" },
			code: CodeMissingParameter, target: t0 + ".vpnClientRootCertificates[0].name"},
		{name: "root cert with line breaks", mut: func(g *VirtualNetworkGateway) {
			cfg(g).VpnClientRootCertificates[0].Properties.PublicCertData = cert[:40] + "\n" + cert[40:]
		}},
		{name: "root cert not base64", mut: func(g *VirtualNetworkGateway) { cfg(g).VpnClientRootCertificates[0].Properties.PublicCertData = "!!!" },
			code: CodeVpnClientConfiguration, target: t0 + ".vpnClientRootCertificates[0].properties.publicCertData", msg: []string{"base64"}},
		{name: "root cert not a certificate", mut: func(g *VirtualNetworkGateway) {
			cfg(g).VpnClientRootCertificates[0].Properties.PublicCertData = "aGVsbG8gd29ybGQ="
		}, code: CodeVpnClientConfiguration, target: t0 + ".vpnClientRootCertificates[0].properties.publicCertData", msg: []string{"X.509"}},
		{name: "root cert PEM armour", mut: func(g *VirtualNetworkGateway) {
			cfg(g).VpnClientRootCertificates[0].Properties.PublicCertData = "-----BEGIN CERTIFICATE-----\n" + cert + "\n-----END CERTIFICATE-----"
		}, code: CodeVpnClientConfiguration, target: t0 + ".vpnClientRootCertificates[0].properties.publicCertData", msg: []string{"BEGIN"}},
		{name: "root cert empty", mut: func(g *VirtualNetworkGateway) { cfg(g).VpnClientRootCertificates[0].Properties.PublicCertData = "" },
			code: CodeMissingParameter, target: t0 + ".vpnClientRootCertificates[0].properties.publicCertData"},
		{name: "revoked ok", mut: func(g *VirtualNetworkGateway) { cfg(g).VpnClientRevokedCertificates = nRevoked(300) }},
		{name: "301 revoked", mut: func(g *VirtualNetworkGateway) { cfg(g).VpnClientRevokedCertificates = nRevoked(301) },
			code: CodeLimitExceeded, target: t0 + ".vpnClientRevokedCertificates"},
		{name: "thumbprint short", mut: func(g *VirtualNetworkGateway) {
			cfg(g).VpnClientRevokedCertificates = []VpnClientRevokedCertificate{{Name: "r", Properties: VpnClientRevokedCertificateProperties{Thumbprint: "ABCD"}}}
		}, code: CodeVpnClientConfiguration, target: t0 + ".vpnClientRevokedCertificates[0].properties.thumbprint", msg: []string{"40"}},
		{name: "thumbprint twice", mut: func(g *VirtualNetworkGateway) {
			r := nRevoked(1)
			r2 := r[0]
			r2.Name = "other"
			r2.Properties.Thumbprint = strings.ToLower(r2.Properties.Thumbprint)
			cfg(g).VpnClientRevokedCertificates = append(r, r2)
		}, code: CodeVpnClientConfiguration, target: t0 + ".vpnClientRevokedCertificates[1].properties.thumbprint"},
		{name: "revoked no name", mut: func(g *VirtualNetworkGateway) {
			r := nRevoked(1)
			r[0].Name = ""
			cfg(g).VpnClientRevokedCertificates = r
		}, code: CodeMissingParameter, target: t0 + ".vpnClientRevokedCertificates[0].name"},
		{name: "radius", mut: func(g *VirtualNetworkGateway) { radius(cfg(g)) }},
		{name: "radius without type (2018 API)", mut: func(g *VirtualNetworkGateway) {
			radius(cfg(g))
			cfg(g).VpnAuthenticationTypes = nil
		}},
		{name: "radius address not an IP", mut: func(g *VirtualNetworkGateway) { radius(cfg(g)); cfg(g).RadiusServerAddress = "radius.example" },
			code: CodeInvalidParameter, target: t0 + ".radiusServerAddress"},
		{name: "radius without secret", mut: func(g *VirtualNetworkGateway) { radius(cfg(g)); cfg(g).RadiusServerSecret = "" },
			code: CodeMissingParameter, target: t0 + ".radiusServerSecret"},
		{name: "radius without server", mut: func(g *VirtualNetworkGateway) { radius(cfg(g)); cfg(g).RadiusServerAddress = "" },
			code: CodeMissingParameter, target: t0 + ".radiusServerAddress"},
		{name: "radiusServers", mut: func(g *VirtualNetworkGateway) {
			c := cfg(g)
			radius(c)
			c.RadiusServerAddress, c.RadiusServerSecret = "", ""
			c.RadiusServers = []RadiusServer{{RadiusServerAddress: "10.1.0.10", RadiusServerSecret: "a", RadiusServerScore: 30}}
		}},
		{name: "radiusServers without secret", mut: func(g *VirtualNetworkGateway) {
			c := cfg(g)
			radius(c)
			c.RadiusServers = []RadiusServer{{RadiusServerAddress: "10.1.0.11"}}
		}, code: CodeMissingParameter, target: t0 + ".radiusServers[0].radiusServerSecret"},
		{name: "radiusServers bad address", mut: func(g *VirtualNetworkGateway) {
			c := cfg(g)
			radius(c)
			c.RadiusServers = []RadiusServer{{RadiusServerAddress: "x", RadiusServerSecret: "a"}}
		}, code: CodeInvalidParameter, target: t0 + ".radiusServers[0].radiusServerAddress"},
		{name: "radiusServers negative score", mut: func(g *VirtualNetworkGateway) {
			c := cfg(g)
			radius(c)
			c.RadiusServers = []RadiusServer{{RadiusServerAddress: "10.1.0.12", RadiusServerSecret: "a", RadiusServerScore: -1}}
		}, code: CodeInvalidParameter, target: t0 + ".radiusServers[0].radiusServerScore"},
		{name: "local users", mut: func(g *VirtualNetworkGateway) { cfg(g).VpnClientLocalUsers = nUsers(MaxLocalUsers) }},
		{name: "local users alone", mut: func(g *VirtualNetworkGateway) {
			c := cfg(g)
			c.VpnAuthenticationTypes, c.VpnClientRootCertificates = nil, nil
			c.VpnClientLocalUsers = []VpnClientLocalUser{localUser(`CORP\alice`, "pässwörd1")}
		}},
		{name: "too many local users", mut: func(g *VirtualNetworkGateway) { cfg(g).VpnClientLocalUsers = nUsers(MaxLocalUsers + 1) },
			code: CodeLimitExceeded, target: t0 + ".vpnClientLocalUsers"},
		{name: "local users with radius", mut: func(g *VirtualNetworkGateway) {
			radius(cfg(g))
			cfg(g).VpnClientLocalUsers = nUsers(1)
		}, code: CodeVpnClientConfiguration, target: t0 + ".vpnClientLocalUsers", msg: []string{"Radius"}},
		{name: "local user twice", mut: func(g *VirtualNetworkGateway) {
			cfg(g).VpnClientLocalUsers = []VpnClientLocalUser{localUser("alice", "password1"), localUser(`CORP\ALICE`, "password2")}
		}, code: CodeVpnClientConfiguration, target: t0 + ".vpnClientLocalUsers[1].name", msg: []string{"twice"}},
		{name: "local user no name", mut: func(g *VirtualNetworkGateway) {
			cfg(g).VpnClientLocalUsers = []VpnClientLocalUser{localUser("", "password1")}
		},
			code: CodeMissingParameter, target: t0 + ".vpnClientLocalUsers[0].name"},
		{name: "local user name with space", mut: func(g *VirtualNetworkGateway) {
			cfg(g).VpnClientLocalUsers = []VpnClientLocalUser{localUser("al ice", "password1")}
		}, code: CodeInvalidParameter, target: t0 + ".vpnClientLocalUsers[0].name"},
		{name: "local user domain only", mut: func(g *VirtualNetworkGateway) {
			cfg(g).VpnClientLocalUsers = []VpnClientLocalUser{localUser(`CORP\`, "password1")}
		}, code: CodeInvalidParameter, target: t0 + ".vpnClientLocalUsers[0].name"},
		{name: "local user name too long", mut: func(g *VirtualNetworkGateway) {
			cfg(g).VpnClientLocalUsers = []VpnClientLocalUser{localUser(strings.Repeat("a", MaxLocalUserName+1), "password1")}
		}, code: CodeInvalidParameter, target: t0 + ".vpnClientLocalUsers[0].name"},
		{name: "local user no password", mut: func(g *VirtualNetworkGateway) {
			cfg(g).VpnClientLocalUsers = []VpnClientLocalUser{localUser("bob", "")}
		},
			code: CodeMissingParameter, target: t0 + ".vpnClientLocalUsers[0].properties.password"},
		{name: "local user short password", mut: func(g *VirtualNetworkGateway) {
			cfg(g).VpnClientLocalUsers = []VpnClientLocalUser{localUser("bob", "seven77")}
		}, code: CodeInvalidParameter, target: t0 + ".vpnClientLocalUsers[0].properties.password", msg: []string{"8 to 128"}},
		{name: "local user long password", mut: func(g *VirtualNetworkGateway) {
			cfg(g).VpnClientLocalUsers = []VpnClientLocalUser{localUser("bob", strings.Repeat("p", MaxLocalUserPassword+1))}
		}, code: CodeInvalidParameter, target: t0 + ".vpnClientLocalUsers[0].properties.password"},
		{name: "local user password with newline", mut: func(g *VirtualNetworkGateway) {
			cfg(g).VpnClientLocalUsers = []VpnClientLocalUser{localUser("bob", "password\n1")}
		}, code: CodeInvalidParameter, target: t0 + ".vpnClientLocalUsers[0].properties.password"},
		{name: "aad", mut: func(g *VirtualNetworkGateway) { aad(cfg(g)) }},
		{name: "aad missing issuer", mut: func(g *VirtualNetworkGateway) { aad(cfg(g)); cfg(g).AadIssuer = "" },
			code: CodeMissingParameter, target: t0 + ".aadIssuer"},
		{name: "aad tenant not https", mut: func(g *VirtualNetworkGateway) { aad(cfg(g)); cfg(g).AadTenant = "http://login/x" },
			code: CodeVpnClientConfiguration, target: t0 + ".aadTenant"},
		{name: "aad without OpenVPN", mut: func(g *VirtualNetworkGateway) { aad(cfg(g)); cfg(g).VpnClientProtocols = []string{"IkeV2"} },
			code: CodeVpnClientConfiguration, target: t0 + ".vpnClientProtocols", msg: []string{"OpenVPN"}},
		{name: "p2s ipsec policy", mut: func(g *VirtualNetworkGateway) { cfg(g).VpnClientIpsecPolicies = []IpsecPolicy{goodPolicy()} }},
		{name: "p2s ipsec policy bad", mut: func(g *VirtualNetworkGateway) {
			p := goodPolicy()
			p.DhGroup = "DHGroup5"
			cfg(g).VpnClientIpsecPolicies = []IpsecPolicy{p}
		}, code: CodeInvalidIpsecPolicy, target: t0 + ".vpnClientIpsecPolicies[0].dhGroup"},
		{name: "Basic SSTP", mut: func(g *VirtualNetworkGateway) {
			g.Properties.SKU.Name = "Basic"
			cfg(g).VpnClientProtocols = []string{"SSTP"}
		}},
		{name: "Basic default protocols", mut: func(g *VirtualNetworkGateway) {
			g.Properties.SKU.Name = "Basic"
			cfg(g).VpnClientProtocols = nil
		}},
		{name: "Basic IKEv2", mut: func(g *VirtualNetworkGateway) { g.Properties.SKU.Name = "Basic" },
			code: CodeVpnClientConfiguration, target: t0 + ".vpnClientProtocols", msg: []string{"SSTP"}},
		{name: "Basic RADIUS", mut: func(g *VirtualNetworkGateway) {
			g.Properties.SKU.Name = "Basic"
			cfg(g).VpnClientProtocols = []string{"SSTP"}
			radius(cfg(g))
		}, code: CodeVpnClientConfiguration, target: t0 + ".vpnAuthenticationTypes", msg: []string{"RADIUS"}},
		{name: "Basic P2S IPsec policy", mut: func(g *VirtualNetworkGateway) {
			g.Properties.SKU.Name = "Basic"
			cfg(g).VpnClientProtocols = []string{"SSTP"}
			cfg(g).VpnClientIpsecPolicies = []IpsecPolicy{goodPolicy()}
		}, code: CodeVpnClientConfiguration, target: t0 + ".vpnClientIpsecPolicies"},
	})
}

func nRoots(n int, cert string) []VpnClientRootCertificate {
	var out []VpnClientRootCertificate
	for i := range n {
		out = append(out, VpnClientRootCertificate{Name: fmt.Sprintf("root%d", i), Properties: VpnClientRootCertificateProperties{PublicCertData: cert}})
	}
	return out
}

func nRevoked(n int) []VpnClientRevokedCertificate {
	var out []VpnClientRevokedCertificate
	for i := range n {
		out = append(out, VpnClientRevokedCertificate{Name: fmt.Sprintf("r%d", i),
			Properties: VpnClientRevokedCertificateProperties{Thumbprint: fmt.Sprintf("%040X", i+1)}})
	}
	return out
}

func localUser(name, password string) VpnClientLocalUser {
	return VpnClientLocalUser{Name: name, Properties: VpnClientLocalUserProperties{Password: password}}
}

func nUsers(n int) []VpnClientLocalUser {
	var out []VpnClientLocalUser
	for i := range n {
		out = append(out, localUser(fmt.Sprintf("user%d", i), fmt.Sprintf("password%d", i)))
	}
	return out
}
