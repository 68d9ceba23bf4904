package api

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/vpngw/vpngw/internal/armerr"
	"github.com/vpngw/vpngw/internal/resource"
)

// instanceProvisioner lists fixed instances for every gateway and records
// which gateway it was asked about.
type instanceProvisioner struct {
	NoneProvisioner
	list  []GatewayInstance
	err   error
	asked chan string
}

func (p *instanceProvisioner) Name() string { return "fake" }

func (p *instanceProvisioner) GatewayInstances(_ context.Context, gw *resource.VirtualNetworkGateway) ([]GatewayInstance, error) {
	p.asked <- gw.ID
	return p.list, p.err
}

// TestGatewayInstancesView: the instances view answers from the
// Provisioner when it lists instances, and explains itself when it does
// not.
func TestGatewayInstancesView(t *testing.T) {
	t.Run("provider none", func(t *testing.T) {
		h := newHarness(t, Config{})
		s := h.site("rg", "Secret123")
		e := h.expectErr(h.do(http.MethodGet, s.gw+"/instances", nil), http.StatusNotFound, CodeInstancesNotAvailable)
		if !strings.Contains(e.Message, "--provider none") || !strings.Contains(e.Message, "--provider host") {
			t.Fatalf("message %q does not say why", e.Message)
		}
		h.expectErr(h.do(http.MethodGet, rid("rg", "virtualNetworkGateways", "nope")+"/instances", nil), http.StatusNotFound, armerr.CodeResourceNotFound)
		h.expectErr(h.do(http.MethodGet, rid("nogroup", "virtualNetworkGateways", "gw1")+"/instances", nil), http.StatusNotFound, armerr.CodeResourceGroupNotFound)
	})

	for _, tc := range []struct {
		name     string
		list     []GatewayInstance
		err      error
		status   int
		wantCode string
		wantLen  int
	}{
		{name: "two instances", status: http.StatusOK, wantLen: 2, list: []GatewayInstance{
			{Name: "gabc-0", Index: 0, Role: "active", State: InstanceStateReady, PublicIPAddress: "198.51.100.1", PrivateIPAddress: "10.1.255.4",
				LastReport: "2025-01-02T03:04:05Z", AppliedRevision: 7, DesiredRevision: 7,
				Connections: []GatewayInstanceConnection{{ID: rid("rg", "connections", "conn1"), Name: "conn1", ConnectionStatus: "Connected"}}},
			{Name: "gabc-1", Index: 1, Role: "standby", State: InstanceStateNotConnected, PublicIPAddress: "198.51.100.1", PrivateIPAddress: "10.1.255.5"},
		}},
		{name: "not realized yet", status: http.StatusOK, wantLen: 0},
		{name: "not realizable", status: http.StatusConflict, wantCode: "ResourceNotRealizable",
			err: armerr.Errorf("ResourceNotRealizable", "", "no GatewaySubnet").WithStatus(http.StatusConflict)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &instanceProvisioner{list: tc.list, err: tc.err, asked: make(chan string, 100)}
			h := newHarness(t, Config{Provisioner: p})
			s := h.site("rg", "Secret123")
			r := h.do(http.MethodGet, s.gw+"/instances", nil)
			if tc.wantCode != "" {
				h.expectErr(r, tc.status, tc.wantCode)
				return
			}
			h.expect(r, tc.status)
			if asked := <-p.asked; !strings.EqualFold(asked, s.gw) {
				t.Fatalf("asked about %s, want %s", asked, s.gw)
			}
			var body struct {
				Value []map[string]any `json:"value"`
			}
			r.json(t, &body)
			if body.Value == nil || len(body.Value) != tc.wantLen {
				t.Fatalf("value: %s", r.body)
			}
			for i, in := range body.Value {
				// Every field is present, connections as a list even when
				// empty.
				for _, f := range []string{"name", "index", "role", "state", "publicIpAddress", "privateIpAddress", "lastReport",
					"appliedRevision", "desiredRevision", "error", "connections"} {
					if _, ok := in[f]; !ok {
						t.Errorf("instance %d lacks %s: %v", i, f, in)
					}
				}
				if in["connections"] == nil {
					t.Errorf("instance %d: connections null", i)
				}
			}
			if tc.wantLen > 0 && (body.Value[0]["name"] != "gabc-0" || body.Value[1]["role"] != "standby") {
				t.Fatalf("value: %s", r.body)
			}
			if strings.Contains(string(r.body), "Secret123") {
				t.Fatal("the instances view shows a shared key")
			}
		})
	}
}
