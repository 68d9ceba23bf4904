package api

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"math/big"
	"net/http"
	"net/url"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/armerr"
	"github.com/vpngw/vpngw/internal/registry"
	"github.com/vpngw/vpngw/internal/resource"
	"github.com/vpngw/vpngw/internal/store/boltstore"
)

// setvpnclientipsecparameters validates its body naming the field, makes
// it the gateway's one vpnClientIpsecPolicies entry (an operation, as a
// PUT), and getvpnclientipsecparameters answers it; without one, Azure's
// default suites. Both refuse a gateway without point-to-site.
func TestVpnClientIPsecParameters(t *testing.T) {
	h := newHarness(t, Config{})
	s := h.site("rg", "Key1Key1Key1")
	set, get := s.gw+"/setvpnclientipsecparameters", s.gw+"/getvpnclientipsecparameters"
	const pol = `{"saLifeTimeSeconds":3600,"saDataSizeKilobytes":102400,"ipsecEncryption":"gcmaes128","ipsecIntegrity":"GCMAES128",
		"ikeEncryption":"AES256","ikeIntegrity":"SHA384","dhGroup":"ECP384","pfsGroup":"ECP384"}`
	// No point-to-site yet.
	h.expectErr(h.do(http.MethodPost, get, nil), http.StatusBadRequest, "VpnClientConfigurationInvalid")
	h.expectErr(h.do(http.MethodPost, set, pol), http.StatusBadRequest, "VpnClientConfigurationInvalid")

	h.wait(h.expect(h.do(http.MethodPut, s.gw, radiusP2SGateway(s)), http.StatusOK))

	var defs VpnClientIPsecDefaults
	h.expect(h.do(http.MethodPost, get, nil), http.StatusOK).json(t, &defs)
	if !defs.Default || len(defs.Value) != 5 || defs.Value[0].IkeEncryption != "GCMAES256" {
		t.Fatalf("defaults: %+v", defs)
	}
	for _, d := range defs.Value {
		if err := resource.ValidateVpnClientIPsecParameters(&d); err != nil {
			t.Errorf("default %+v is not a valid policy: %v", d, err)
		}
	}

	// Refusals name the body's field.
	for _, tc := range []struct{ name, body, target string }{
		{"missing field", `{"saLifeTimeSeconds":3600,"saDataSizeKilobytes":102400,"ipsecEncryption":"AES256","ipsecIntegrity":"SHA256","ikeEncryption":"AES256","ikeIntegrity":"SHA384","dhGroup":"ECP384"}`, "pfsGroup"},
		{"bad value", `{"saLifeTimeSeconds":3600,"saDataSizeKilobytes":102400,"ipsecEncryption":"AES512","ipsecIntegrity":"SHA256","ikeEncryption":"AES256","ikeIntegrity":"SHA384","dhGroup":"ECP384","pfsGroup":"None"}`, "ipsecEncryption"},
		{"lifetime too short", `{"saLifeTimeSeconds":10,"saDataSizeKilobytes":102400,"ipsecEncryption":"AES256","ipsecIntegrity":"SHA256","ikeEncryption":"AES256","ikeIntegrity":"SHA384","dhGroup":"ECP384","pfsGroup":"None"}`, "saLifeTimeSeconds"},
		{"GCM mismatch", `{"saLifeTimeSeconds":3600,"saDataSizeKilobytes":102400,"ipsecEncryption":"GCMAES256","ipsecIntegrity":"SHA256","ikeEncryption":"AES256","ikeIntegrity":"SHA384","dhGroup":"ECP384","pfsGroup":"None"}`, "ipsecIntegrity"},
	} {
		e := h.expectErr(h.do(http.MethodPost, set, tc.body), http.StatusBadRequest, resource.CodeInvalidIpsecPolicy)
		if e.Target != tc.target {
			t.Errorf("%s: target %q, want %q (%s)", tc.name, e.Target, tc.target, e.Message)
		}
	}

	// An update of the gateway (an operation, as a PUT) whose result is
	// the policy.
	var got resource.IpsecPolicy
	h.action(set, pol).json(t, &got)
	if got.IpsecEncryption != "GCMAES128" || got.PfsGroup != "ECP384" {
		t.Fatalf("set answered %+v", got)
	}
	var cur resource.IpsecPolicy
	h.expect(h.do(http.MethodPost, get, nil), http.StatusOK).json(t, &cur)
	if cur != got {
		t.Fatalf("get = %+v, want %+v", cur, got)
	}
	g := h.get(s.gw)
	vc := g["properties"].(map[string]any)["vpnClientConfiguration"].(map[string]any)
	if pols, _ := vc["vpnClientIpsecPolicies"].([]any); len(pols) != 1 || pols[0].(map[string]any)["ipsecEncryption"] != "GCMAES128" {
		t.Fatalf("the gateway's vpnClientIpsecPolicies: %v", vc["vpnClientIpsecPolicies"])
	}
	// The same policy again changes nothing (the gateway is not
	// updated: its etag stays).
	etag := h.get(s.gw)["etag"]
	var same resource.IpsecPolicy
	h.action(set, pol).json(t, &same)
	if same != got || h.get(s.gw)["etag"] != etag {
		t.Errorf("setting the same policy again: %+v, etag %v → %v", same, etag, h.get(s.gw)["etag"])
	}
	h.expectErr(h.do(http.MethodPost, rid("rg", "virtualNetworkGateways", "nope")+"/getvpnclientipsecparameters", nil), http.StatusNotFound, "ResourceNotFound")
}

// radiusP2SGateway is a gateway of site s with point-to-site over RADIUS.
func radiusP2SGateway(s site) string {
	return `{"location":"westeurope","properties":{"gatewayType":"Vpn","vpnType":"RouteBased","sku":{"name":"VpnGw1"},
		"ipConfigurations":[{"name":"default","properties":{"subnet":{"id":"` + s.vnet + `/subnets/GatewaySubnet"},"publicIPAddress":{"id":"` + s.pip + `"}}}],
		"vpnClientConfiguration":{"vpnClientAddressPool":{"addressPrefixes":["172.16.0.0/24"]},"vpnClientProtocols":["IkeV2"],
		"vpnAuthenticationTypes":["Radius"],"radiusServerAddress":"10.9.9.9","radiusServerSecret":"RadSecret"}}}`
}

// p2sTestProvisioner answers VpnServer with a fixed gateway, like the
// reconciler does for a gateway with point-to-site.
type p2sTestProvisioner struct {
	NoneProvisioner
	srv resource.VpnServer
}

func (p p2sTestProvisioner) VpnServer(context.Context, *resource.VirtualNetworkGateway) (resource.VpnServer, error) {
	return p.srv, nil
}

func (p2sTestProvisioner) VpnClientHealth(context.Context, *resource.VirtualNetworkGateway) ([]resource.VpnClientConnectionHealthDetail, error) {
	return nil, nil
}

func (p2sTestProvisioner) DisconnectVpnClients(context.Context, *resource.VirtualNetworkGateway, []string) error {
	return nil
}

// A client package generatevpnprofile built through one server is served
// by another server on the same store (another replica), kept sealed in
// the store, until its hour is over; an unknown ID is 404 on both.
func TestVpnClientPackageSharedByReplicas(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "P2S Root"}, IsCA: true,
		BasicConstraintsValid: true, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	prov := p2sTestProvisioner{srv: resource.VpnServer{FQDN: "gw.example", Addresses: []string{"203.0.113.7"}, RootCertificate: der,
		Routes: []string{"10.1.0.0/16"}}}
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	// One store, sealed as vpngw serve opens it, under both servers.
	raw, err := boltstore.Open(filepath.Join(t.TempDir(), "vpngw.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	kf, err := registry.CreateKeyFile(filepath.Join(t.TempDir(), "secrets.key"))
	if err != nil {
		t.Fatal(err)
	}
	st := registry.NewSealed(raw, kf)
	h1 := newHarness(t, Config{Provisioner: prov, Now: clock, Store: st})
	h2 := newHarness(t, Config{Provisioner: prov, Now: clock, Store: st})
	s := h1.site("rg", "Key1Key1Key1")
	h1.wait(h1.expect(h1.do(http.MethodPut, s.gw, radiusP2SGateway(s)), http.StatusOK))

	// getvpnprofilepackageurl before any package: 404 on both.
	urlAction := s.gw + "/getvpnprofilepackageurl"
	for _, h := range []*harness{h1, h2} {
		h.expectErr(h.do(http.MethodPost, urlAction, nil), http.StatusNotFound, armerr.CodeVpnClientPackageNotFound)
	}
	var link string
	h1.action(s.gw+"/generatevpnprofile", `{}`).json(t, &link)
	u, err := url.Parse(link)
	if err != nil || !strings.HasPrefix(u.Path, "/vpnclientpackages/") {
		t.Fatalf("generatevpnprofile answered %q", link)
	}
	// Both replicas answer the latest package's URL.
	for i, h := range []*harness{h1, h2} {
		var got string
		h.action(urlAction, "").json(t, &got)
		if gu, err := url.Parse(got); err != nil || gu.Path != u.Path {
			t.Fatalf("server %d: getvpnprofilepackageurl = %q, want the path of %q", i+1, got, link)
		}
	}
	var zips [2][]byte
	for i, h := range []*harness{h1, h2} {
		r := h.expect(h.do(http.MethodGet, u.Path, nil), http.StatusOK)
		if r.header.Get("Content-Type") != "application/zip" || !bytes.HasPrefix(r.body, []byte("PK")) {
			t.Fatalf("server %d: %s %q", i+1, r.header.Get("Content-Type"), r.body[:min(len(r.body), 16)])
		}
		zips[i] = r.body
		h.expectErr(h.do(http.MethodGet, "/vpnclientpackages/00112233445566778899aabbccddeeff", nil), http.StatusNotFound, armerr.CodeResourceNotFound)
	}
	if !bytes.Equal(zips[0], zips[1]) {
		t.Fatal("the servers served different packages")
	}
	// In the store with its expiry, sealed at rest: the raw value holds
	// neither the package nor its JSON.
	kvs, _, err := st.List(context.Background(), packageKeyPrefix)
	if err != nil || len(kvs) != 1 {
		t.Fatalf("stored packages: %v %d", err, len(kvs))
	}
	var c clientPackage
	if json.Unmarshal(kvs[0].Value, &c) != nil || !bytes.Equal(c.Zip, zips[0]) || !c.Expires.Equal(clock().Add(packageTTL)) {
		t.Fatalf("stored package: %+v", c.Expires)
	}
	rawKV, err := raw.Get(context.Background(), kvs[0].Key)
	if err != nil || bytes.Contains(rawKV.Value, []byte(`"zip"`)) || bytes.Contains(rawKV.Value, zips[0][:64]) {
		t.Fatalf("the package is not sealed at rest: %v %q", err, rawKV.Value[:min(len(rawKV.Value), 64)])
	}
	// After its hour: gone on both, and dropped from the store by the
	// next one built.
	mu.Lock()
	now = now.Add(packageTTL + time.Second)
	mu.Unlock()
	for _, h := range []*harness{h1, h2} {
		h.expectErr(h.do(http.MethodGet, u.Path, nil), http.StatusNotFound, armerr.CodeResourceNotFound)
	}
	h1.expectErr(h1.do(http.MethodPost, urlAction, nil), http.StatusNotFound, armerr.CodeVpnClientPackageNotFound)
	var link2, link3 string
	h2.action(s.gw+"/generatevpnprofile", `{}`).json(t, &link2)
	if kvs, _, err := st.List(context.Background(), packageKeyPrefix); err != nil || len(kvs) != 1 || kvs[0].Key == packageKeyPrefix+path.Base(u.Path) {
		t.Fatalf("stored packages after expiry: %v %+v", err, kvs)
	}
	// A later package is the one getvpnprofilepackageurl names.
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	h1.action(s.gw+"/generatevpnprofile", `{}`).json(t, &link3)
	var got string
	h2.action(urlAction, "").json(t, &got)
	if path.Base(got) != path.Base(link3) || path.Base(link2) == path.Base(link3) {
		t.Fatalf("getvpnprofilepackageurl = %q after %q then %q", got, link2, link3)
	}
	// An unknown gateway is 404.
	h1.expectErr(h1.do(http.MethodPost, rid("rg", "virtualNetworkGateways", "nope")+"/getvpnprofilepackageurl", nil), http.StatusNotFound, "ResourceNotFound")
}
