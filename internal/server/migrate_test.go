package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vpngw/vpngw/internal/store/boltstore"
	"github.com/vpngw/vpngw/internal/tstest/etcdtest"
	"github.com/vpngw/vpngw/internal/tstest/testbin"
)

// TestMigrateBoltToEtcd moves a bbolt installation (a gateway and a
// connection with a sealed shared key) to a real etcd with the vpngw
// binary's `serve migrate`: every key is copied and verified, a second
// run is refused (the target is not empty) unless --force, and a server
// on etcd with the same key file serves every resource and the shared
// key.
func TestMigrateBoltToEtcd(t *testing.T) {
	dataDir := t.TempDir()
	keyFile := filepath.Join(t.TempDir(), "secrets.key")
	addr, stop := startNoneStop(t, Options{DataDir: dataDir, SecretsKeyFile: keyFile})
	base := "http://" + addr
	vnet, pip, gw := haID("mig", "virtualNetworks", "v"), haID("mig", "publicIPAddresses", "ip"), haID("mig", "virtualNetworkGateways", "gw")
	lng, conn := haID("mig", "localNetworkGateways", "site"), haID("mig", "connections", "c")
	ids := []string{haSub + "/resourceGroups/mig", vnet, pip, gw, lng, conn}
	bodies := []string{
		`{"location":"westeurope"}`,
		`{"location":"westeurope","properties":{"addressSpace":{"addressPrefixes":["10.1.0.0/16"]},"subnets":[{"name":"GatewaySubnet","properties":{"addressPrefix":"10.1.255.0/27"}}]}}`,
		`{"location":"westeurope","sku":{"name":"Standard"},"properties":{"publicIPAllocationMethod":"Static"}}`,
		fmt.Sprintf(`{"location":"westeurope","properties":{"gatewayType":"Vpn","vpnType":"RouteBased","sku":{"name":"VpnGw1"},
			"ipConfigurations":[{"name":"default","properties":{"subnet":{"id":%q},"publicIPAddress":{"id":%q}}}]}}`, vnet+"/subnets/GatewaySubnet", pip),
		`{"location":"westeurope","properties":{"gatewayIpAddress":"192.0.2.1","localNetworkAddressSpace":{"addressPrefixes":["192.168.1.0/24"]}}}`,
		fmt.Sprintf(`{"location":"westeurope","properties":{"connectionType":"IPsec","virtualNetworkGateway1":{"id":%q},"localNetworkGateway2":{"id":%q},"sharedKey":"MigratedSecret1"}}`, gw, lng),
	}
	for i, id := range ids {
		putJSON(t, base+id+etcdTestAPI, bodies[i])
		waitSucceeded(t, base+id+etcdTestAPI)
	}
	stop()
	src, err := boltstore.Open(filepath.Join(dataDir, storeFile), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	kvs, _, err := src.List(context.Background(), "")
	src.Close()
	if err != nil {
		t.Fatal(err)
	}

	etcd := etcdtest.Start(t)
	const prefix = "/vpngw/migrated/"
	out, err := exec.Command(testbin.Path(t), "serve", "migrate", "--from", "bolt:"+dataDir, "--to", "etcd:"+etcd.Endpoint, "--etcd-prefix", prefix).CombinedOutput()
	if err != nil || !strings.Contains(string(out), fmt.Sprintf("migrated %d keys", len(kvs))) {
		t.Fatalf("vpngw serve migrate: %v\n%s", err, out)
	}
	t.Logf("%s", strings.TrimSpace(string(out)))
	if out, err := exec.Command(testbin.Path(t), "serve", "migrate", "--from", "bolt:"+dataDir, "--to", "etcd:"+etcd.Endpoint, "--etcd-prefix", prefix).CombinedOutput(); err == nil || !strings.Contains(string(out), "--force") {
		t.Fatalf("second migrate into a non-empty prefix: %v\n%s", err, out)
	}
	to := StoreOptions{Kind: StoreEtcd, Etcd: EtcdOptions{Endpoints: []string{etcd.Endpoint}, Prefix: prefix}}
	if _, err := Migrate(context.Background(), MigrateOptions{FromBolt: dataDir, To: to}); !errors.Is(err, ErrTargetNotEmpty) {
		t.Fatalf("Migrate into a non-empty prefix: %v, want ErrTargetNotEmpty", err)
	}
	res, err := Migrate(context.Background(), MigrateOptions{FromBolt: filepath.Join(dataDir, storeFile), To: to, Force: true})
	if err != nil || res.Copied != len(kvs) || res.Removed != len(kvs) {
		t.Fatalf("Migrate --force: %+v %v, want %d copied and removed", res, err, len(kvs))
	}
	if _, err := Migrate(context.Background(), MigrateOptions{FromBolt: filepath.Join(t.TempDir(), "none.db"), To: to}); err == nil {
		t.Fatal("Migrate from a missing file succeeded")
	}

	addr, _ = startNoneStop(t, etcdOptions(t, etcd.Endpoint, prefix, keyFile))
	base = "http://" + addr
	for _, id := range ids {
		waitSucceeded(t, base+id+etcdTestAPI)
	}
	st, _, body := send(t, http.MethodGet, base+conn+"/sharedkey"+etcdTestAPI, "", "", "", "")
	if st != http.StatusOK || !strings.Contains(body, "MigratedSecret1") {
		t.Fatalf("shared key after migrating: %d %s", st, body)
	}
}
