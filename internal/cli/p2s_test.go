package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/api"
	"github.com/vpngw/vpngw/internal/api/apitest"
	"github.com/vpngw/vpngw/internal/p2s/pki"
	"github.com/vpngw/vpngw/internal/resource"
)

// p2sProvisioner is the test provisioner plus the point-to-site side a
// profile needs (the reconciler's, for a gateway running point-to-site):
// VpnServer answers srv; health and disconnect are not used here.
type p2sProvisioner struct {
	*apitest.Provisioner
	api.PointToSiteProvisioner
	srv resource.VpnServer
}

func (p p2sProvisioner) VpnServer(context.Context, *resource.VirtualNetworkGateway) (resource.VpnServer, error) {
	return p.srv, nil
}

// vpn-client show-url fails before any package and then prints the URL of
// the latest one generate built.
func TestVpnClientShowURL(t *testing.T) {
	ca, err := pki.NewCA("P2S Root", pki.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	a := newTestAPIWith(t, p2sProvisioner{Provisioner: apitest.NewProvisioner(),
		srv: resource.VpnServer{FQDN: "gw.example", Addresses: []string{"203.0.113.7"}, RootCertificate: ca.Cert.Raw, Routes: []string{"10.1.0.0/16"}}})
	seed(t, a)
	seedGateway(t, a, "gw1", "vnet1", "pip1", 1)
	mustRun(t, a, "network", "vnet-gateway", "update", "-g", "rg1", "-n", "gw1", "--address-prefixes", "172.16.0.0/24",
		"--client-protocol", "IkeV2", "--vpn-auth-type", "Radius", "--radius-server", "10.9.9.9", "--radius-secret", "RadSecret1", "-o", "none")
	showURL := []string{"network", "vnet-gateway", "vpn-client", "show-url", "-g", "rg1", "-n", "gw1", "-o", "tsv"}
	code, _, errOut := run(t, a, showURL...)
	if code != ExitNotFound || !strings.Contains(errOut, "VpnClientPackageNotFound") || !strings.Contains(errOut, "generate") {
		t.Fatalf("show-url before generate: exit %d, %s", code, errOut)
	}
	var urls []string
	for range 2 {
		u := strings.TrimSpace(mustRun(t, a, "network", "vnet-gateway", "vpn-client", "generate", "-g", "rg1", "-n", "gw1", "-o", "tsv"))
		if !strings.Contains(u, "/vpnclientpackages/") {
			t.Fatalf("generate printed %q", u)
		}
		urls = append(urls, u)
		time.Sleep(10 * time.Millisecond) // the later package expires later
	}
	if got := strings.TrimSpace(mustRun(t, a, showURL...)); got != urls[1] || urls[0] == urls[1] {
		t.Fatalf("show-url = %q, want the latest of %q", got, urls)
	}
	posted := false
	for _, r := range a.reqs() {
		posted = posted || r.Method == "POST" && strings.HasSuffix(r.Path, "/virtualNetworkGateways/gw1/getvpnprofilepackageurl")
	}
	if !posted {
		t.Errorf("show-url did not POST getvpnprofilepackageurl: %v", a.reqs())
	}
}

// local-user create adds a user with its password to the gateway's
// vpnClientLocalUsers (show never prints it), refuses a name twice, and
// local-user delete removes one; the other keeps its stored password.
func TestLocalUsers(t *testing.T) {
	a := newTestAPI(t)
	seed(t, a)
	seedGateway(t, a, "gw1", "vnet1", "pip1", 1)
	mustRun(t, a, "network", "vnet-gateway", "update", "-g", "rg1", "-n", "gw1", "--address-prefixes", "172.16.0.0/24", "--client-protocol", "IkeV2", "-o", "none")
	user := func(verb, name string, more ...string) []string {
		return append([]string{"network", "vnet-gateway", "local-user", verb, "-g", "rg1", "--gateway-name", "gw1", "-n", name, "-o", "none"}, more...)
	}
	mustRun(t, a, user("create", "dave", "--password", "Dave-Secret-42")...)
	mustRun(t, a, user("create", "erin", "--password", "Erin-Secret-43")...)
	show := []string{"network", "vnet-gateway", "show", "-g", "rg1", "-n", "gw1", "-o", "json"}
	if out := mustRun(t, a, show...); !strings.Contains(out, `"erin"`) || strings.Contains(out, "Secret-4") {
		t.Fatalf("show: %s", out)
	}
	if code, _, errOut := run(t, a, user("create", "DAVE", "--password", "Other-Secret-1")...); code == 0 || !strings.Contains(errOut, "already exists") {
		t.Fatalf("a second dave: exit %d, %s", code, errOut)
	}
	mustRun(t, a, user("delete", "dave")...)
	if code, _, errOut := run(t, a, user("delete", "dave")...); code == 0 || !strings.Contains(errOut, "no local-user") {
		t.Fatalf("deleting dave twice: exit %d, %s", code, errOut)
	}
	if out := mustRun(t, a, show...); strings.Contains(out, `"dave"`) || !strings.Contains(out, `"erin"`) {
		t.Fatalf("show after delete: %s", out)
	}
	if code, _, errOut := run(t, a, user("create", "frank", "--password", "short")...); code == 0 || !strings.Contains(errOut, "password") {
		t.Fatalf("a short password: exit %d, %s", code, errOut)
	}
}
