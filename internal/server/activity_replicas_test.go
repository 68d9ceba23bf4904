package server

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/vpngw/vpngw/internal/api"
	"github.com/vpngw/vpngw/internal/tstest/etcdtest"
)

// TestActivityLogSharedByReplicas: two replicas on a real etcd; an
// operation accepted through one and a write refused by the other are
// in both replicas' activity logs (the log is in the store).
func TestActivityLogSharedByReplicas(t *testing.T) {
	etcd := etcdtest.Start(t)
	bases := startEtcdReplicas(t, etcd.Endpoint, "/vpngw/activity/", 2)
	rg := haSub + "/resourceGroups/act"
	putJSON(t, bases[0]+rg+etcdTestAPI, `{"location":"westeurope"}`)
	lng := haID("act", "localNetworkGateways", "site")
	putJSON(t, bases[0]+lng+etcdTestAPI, `{"location":"westeurope","properties":{"gatewayIpAddress":"192.0.2.1","localNetworkAddressSpace":{"addressPrefixes":["192.168.1.0/24"]}}}`)
	waitSucceeded(t, bases[1]+lng+etcdTestAPI)
	bad := haID("act", "localNetworkGateways", "bad")
	if st, _, b := send(t, http.MethodPut, bases[1]+bad+etcdTestAPI, "", "application/json", "",
		`{"location":"westeurope","properties":{"gatewayIpAddress":"not-an-ip"}}`); st != http.StatusBadRequest {
		t.Fatalf("PUT bad: %d %s", st, b)
	}
	for i, base := range bases {
		st, _, body := send(t, http.MethodGet, base+haSub+"/providers/Microsoft.Insights/eventtypes/management/values?api-version="+api.ActivityLogAPIVersion, "", "", "", "")
		var log struct {
			Value []api.EventData `json:"value"`
		}
		if st != http.StatusOK || json.Unmarshal([]byte(body), &log) != nil {
			t.Fatalf("replica %d's activity log: %d %s", i, st, body)
		}
		got := map[string]string{}
		for _, e := range log.Value {
			got[e.ResourceID] = e.Status.Value
		}
		if got[lng] != api.StatusSucceeded || got[bad] != api.StatusFailed {
			t.Errorf("replica %d's activity log: %v", i, got)
		}
	}
}
