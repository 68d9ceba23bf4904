package vpndevice

import (
	"errors"
	"net/netip"
	"regexp"
	"strings"
	"testing"

	"github.com/vpngw/vpngw/internal/transform"
)

// activeActive is an IKEv2 connection to an active-active gateway with
// Azure's default proposals.
func activeActive() Params {
	return Params{
		Connection:        "to-onprem",
		GatewayAddrs:      []netip.Addr{netip.MustParseAddr("203.0.113.4"), netip.MustParseAddr("203.0.113.5")},
		DeviceAddr:        netip.MustParseAddr("192.0.2.10"),
		AzurePrefixes:     []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("10.2.0.0/16")},
		SitePrefixes:      []netip.Prefix{netip.MustParsePrefix("10.50.0.0/16")},
		DPDTimeoutSeconds: 45,
		ConnectionMode:    "Default",
		SharedKey:         `Ab"c\123`,
	}
}

func gcmPolicy() *transform.IpsecPolicy {
	return &transform.IpsecPolicy{SaLifeTimeSeconds: 3600, SaDataSizeKilobytes: 1024000, IpsecEncryption: "GCMAES256", IpsecIntegrity: "GCMAES256",
		IkeEncryption: "GCMAES256", IkeIntegrity: "GCMAES256", DhGroup: "ECP256", PfsGroup: "ECP384"}
}

func generate(t *testing.T, vendor string, p Params) string {
	t.Helper()
	for _, d := range Devices() {
		if d.Vendor == vendor {
			s, err := Generate(d, p)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	}
	t.Fatalf("no vendor %s", vendor)
	return ""
}

func contains(t *testing.T, script string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(script, w) {
			t.Errorf("script lacks %q:\n%s", w, script)
		}
	}
}

func TestStrongSwan(t *testing.T) {
	s := generate(t, "strongSwan", activeActive())
	contains(t, s,
		"to-onprem-gw0 {", "to-onprem-gw1 {", "remote_addrs = 203.0.113.4", "remote_addrs = 203.0.113.5",
		"local_addrs = 192.0.2.10", "id = 192.0.2.10", "id = 203.0.113.4",
		"local_ts = 10.50.0.0/16", "remote_ts = 10.1.0.0/16,10.2.0.0/16",
		"version = 2", "rekey_time = 28800s", "rekey_time = 27000s", "rekey_bytes = 104857600000",
		"dpd_delay = 15s", "dpd_action = restart", "start_action = start",
		"id-azure0 = 203.0.113.4", "id-azure1 = 203.0.113.5", `secret = "Ab\"c\\123"`)
	// The proposals are Azure's defaults, and strongSwan's syntax
	// (transform parses what it writes).
	m := regexp.MustCompile(`(?m)^\s+proposals = (.*)$`).FindStringSubmatch(s)
	if m == nil {
		t.Fatal("no proposals line")
	}
	ps, err := transform.ParseProposals(m[1], false)
	if err != nil || transform.FormatProposals(ps) != transform.FormatProposals(transform.AzureDefaultIKEProposals()) {
		t.Errorf("proposals %q (%v), want Azure's defaults", m[1], err)
	}
	contains(t, s, "esp_proposals = "+transform.FormatProposals(transform.AzureDefaultESPInitiator()))

	// A custom policy: its single proposal and lifetimes; InitiatorOnly
	// means the device only answers.
	p := activeActive()
	p.Policy, p.ConnectionMode = gcmPolicy(), "InitiatorOnly"
	s = generate(t, "strongSwan", p)
	contains(t, s, "proposals = aes256gcm16-prfsha256-prfsha384-ecp256", "esp_proposals = aes256gcm16-ecp384",
		"rekey_time = 3600s", "rekey_bytes = 1048576000", "start_action = none")

	// IKEv1 on a PolicyBased gateway: one child per prefix pair, no DPD.
	p = activeActive()
	p.GatewayAddrs = p.GatewayAddrs[:1]
	p.IKEv1, p.PolicyBased, p.DPDTimeoutSeconds = true, true, 0
	s = generate(t, "strongSwan", p)
	contains(t, s, "version = 1", "to-onprem {", "to-onprem-net-0 {", "to-onprem-net-1 {", "remote_ts = 10.2.0.0/16",
		"reauth_time = 28800s", "rekey_time = 3600s",
		"proposals = "+transform.FormatProposals(transform.AzureV1MainModeProposals(true)))
	if strings.Contains(s, "dpd") {
		t.Errorf("PolicyBased script has DPD:\n%s", s)
	}
}

func TestLibreswan(t *testing.T) {
	s := generate(t, "Libreswan", activeActive())
	contains(t, s, "conn to-onprem-gw0", "conn to-onprem-gw1", "ikev2=yes", "auto=start", "left=192.0.2.10", "leftid=192.0.2.10",
		"leftsubnets={10.50.0.0/16}", "right=203.0.113.5", "rightsubnets={10.1.0.0/16 10.2.0.0/16}",
		"ike=aes256-sha1-modp1024,aes256-sha2_256-modp1024,aes128-sha1-modp1024,aes128-sha2_256-modp1024,3des-sha1-modp1024,3des-sha2_256-modp1024",
		"esp=aes_gcm256,aes256-sha1,3des-sha1,aes256-sha2_256,aes128-sha1,3des-sha2_256", "pfs=no",
		"ikelifetime=28800s", "salifetime=27000s", "dpddelay=15s", "dpdtimeout=45s", "dpdaction=restart",
		"192.0.2.10 203.0.113.4 : PSK 0sQWIiY1wxMjM=")
	p := activeActive()
	p.Policy, p.SharedKey = gcmPolicy(), "Plain123"
	p.DeviceAddr, p.DeviceFQDN = netip.Addr{}, "site.example.com"
	s = generate(t, "Libreswan", p)
	contains(t, s, "ike=aes_gcm256-sha2_256+sha2_384-dh19", "esp=aes_gcm256-dh20", "pfs=yes", "salifetime=3600s",
		"left=%defaultroute", "leftid=@site.example.com", `@site.example.com 203.0.113.5 : PSK "Plain123"`)
}

func TestCisco(t *testing.T) {
	p := activeActive()
	p.SharedKey = "Abc123"
	s := generate(t, "Cisco", p)
	contains(t, s,
		"crypto ikev2 proposal azure-to-onprem-1\n encryption aes-cbc-256\n integrity sha1\n group 2",
		"crypto ikev2 proposal azure-to-onprem-6\n encryption 3des\n integrity sha256\n group 2",
		" proposal azure-to-onprem-6", "  address 203.0.113.5\n  pre-shared-key Abc123",
		" match identity remote address 203.0.113.4 255.255.255.255", " lifetime 28800", " dpd 15 5 on-demand",
		"crypto ipsec transform-set azure-to-onprem-1 esp-gcm 256", "crypto ipsec transform-set azure-to-onprem-4 esp-aes 256 esp-sha256-hmac",
		" set transform-set azure-to-onprem-1 azure-to-onprem-2 azure-to-onprem-3 azure-to-onprem-4 azure-to-onprem-5 azure-to-onprem-6",
		" set security-association lifetime seconds 27000", " set security-association lifetime kilobytes disable",
		"interface Tunnel10", "interface Tunnel11", " tunnel destination 203.0.113.5", " ip tcp adjust-mss 1350",
		"ip route 10.1.0.0 255.255.0.0 Tunnel10", "ip route 10.2.0.0 255.255.0.0 Tunnel11")
	if strings.Contains(s, "set pfs") {
		t.Errorf("default policy has PFS:\n%s", s)
	}
	p.Policy = gcmPolicy()
	p.BGP = &BGP{GatewayASN: 65515, GatewayPeers: []netip.Addr{netip.MustParseAddr("10.1.255.4"), netip.MustParseAddr("10.1.255.5")},
		DeviceASN: 65050, DevicePeer: netip.MustParseAddr("10.50.0.1")}
	s = generate(t, "Cisco", p)
	contains(t, s, " encryption aes-gcm-256\n prf sha256 sha384\n group 19", " set pfs group20",
		" set security-association lifetime kilobytes 1024000", "router bgp 65050", " neighbor 10.1.255.5 remote-as 65515",
		"ip route 10.1.255.5 255.255.255.255 Tunnel11", "  network 10.50.0.0 mask 255.255.0.0")

	// IKEv1: ISAKMP policies and keys.
	p = activeActive()
	p.GatewayAddrs, p.IKEv1, p.SharedKey = p.GatewayAddrs[:1], true, "Abc123"
	s = generate(t, "Cisco", p)
	contains(t, s, "crypto isakmp policy 10\n encr aes 256\n hash sha\n authentication pre-share\n group 2\n lifetime 28800",
		"crypto isakmp key Abc123 address 203.0.113.4", "crypto isakmp keepalive 15 5 on-demand")
	if strings.Contains(s, "ikev2") {
		t.Errorf("IKEv1 script has IKEv2 settings:\n%s", s)
	}

	// A tunnel interface cannot serve a PolicyBased gateway.
	p.PolicyBased = true
	d, _ := Lookup("cisco", "ios route-based vti", "IOS 15.4 and later, IOS XE 16 and later")
	var le *LookupError
	if _, err := Generate(d, p); !errors.As(err, &le) || le.Field != "deviceFamily" {
		t.Errorf("PolicyBased with Cisco VTI: %v", err)
	}
}

func TestGeneric(t *testing.T) {
	s := generate(t, "Generic", activeActive())
	contains(t, s, "Azure gateway address (tunnel 0):  203.0.113.4", "Azure gateway address (tunnel 1):  203.0.113.5",
		`Pre-shared key:                    Ab"c\123`, "IKE version:                       IKEv2",
		"IKE proposal 1:                    AES_CBC_256 / HMAC_SHA1_96 / PRF_HMAC_SHA1 / MODP_1024",
		"IPsec proposal 1:                  AES_GCM_16_256 / no PFS", "IPsec SA lifetime:                 27000 s, 102400000 KB",
		"Dead peer detection:               on; Azure's timeout 45 s")
}

func TestLookup(t *testing.T) {
	for _, c := range []struct{ v, f, fw, field string }{
		{"strongSwan", "swanctl.conf", "5.9 and later", ""},
		{" STRONGSWAN ", "SwanCtl.Conf", "5.9 AND LATER", ""},
		{"Juniper", "", "", "vendor"},
		{"Cisco", "ASA", "", "deviceFamily"},
		{"Libreswan", "ipsec.conf", "3.x", "firmwareVersion"},
	} {
		_, err := Lookup(c.v, c.f, c.fw)
		var le *LookupError
		switch {
		case c.field == "" && err != nil:
			t.Errorf("%v: %v", c, err)
		case c.field != "" && (!errors.As(err, &le) || le.Field != c.field):
			t.Errorf("%v: %v, want a %s error", c, err, c.field)
		}
	}
	xml := SupportedDevicesXML()
	if !strings.HasPrefix(xml, `<?xml version="1.0" encoding="UTF-8"?>`) || strings.Count(xml, "<Vendor ") != 4 {
		t.Errorf("device list:\n%s", xml)
	}
}
