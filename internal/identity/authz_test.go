package identity

import (
	"net/http/httptest"
	"slices"
	"testing"
)

// TestClassifyARM: requests get Azure's action names at their path.
func TestClassifyARM(t *testing.T) {
	const rg = "/subscriptions/s1/resourceGroups/rg1"
	const n = rg + "/providers/Microsoft.Network"
	tests := []struct {
		method, path string
		actions      []string
	}{
		{"GET", "/subscriptions/s1/resourcegroups", []string{"Microsoft.Resources/subscriptions/resourceGroups/read"}},
		{"PUT", rg, []string{"Microsoft.Resources/subscriptions/resourceGroups/write"}},
		{"HEAD", rg, []string{"Microsoft.Resources/subscriptions/resourceGroups/read"}},
		{"DELETE", rg, []string{"Microsoft.Resources/subscriptions/resourceGroups/delete"}},
		{"GET", n + "/virtualNetworks", []string{"Microsoft.Network/virtualNetworks/read"}},
		{"PATCH", n + "/virtualNetworks/v", []string{"Microsoft.Network/virtualNetworks/write"}},
		{"PUT", n + "/virtualNetworks/v/subnets/GatewaySubnet", []string{"Microsoft.Network/virtualNetworks/subnets/write"}},
		{"POST", n + "/virtualNetworkGateways/g/reset", []string{"Microsoft.Network/virtualNetworkGateways/reset/action"}},
		{"POST", n + "/connections/c/sharedkey/reset", []string{"Microsoft.Network/connections/sharedkey/reset/action"}},
		{"PUT", n + "/connections/c/sharedkey", []string{"Microsoft.Network/connections/sharedkey/write"}},
		{"GET", n + "/connections/c/sharedkey", []string{"Microsoft.Network/connections/sharedkey/read", "Microsoft.Network/connections/write"}},
		{"POST", n + "/connections/c/vpndeviceconfigurationscript", []string{"Microsoft.Network/connections/vpndeviceconfigurationscript/action"}},
		{"GET", "/subscriptions/s1/providers/Microsoft.Network/connections", []string{"Microsoft.Network/connections/read"}},
		{"GET", "/subscriptions/s1/providers/Microsoft.Insights/eventtypes/management/values", []string{"Microsoft.Insights/eventtypes/values/read"}},
		{"POST", "/lab/v1/down", []string{"vpngw.Lab/action"}},
	}
	for _, tc := range tests {
		got := ClassifyARM(httptest.NewRequest(tc.method, tc.path, nil))
		if !slices.Equal(got.Actions, tc.actions) || got.Open {
			t.Errorf("%s %s: %v, want %v", tc.method, tc.path, got.Actions, tc.actions)
		}
	}
}

// TestRoles: the built-in roles' action patterns, as Azure applies them.
func TestRoles(t *testing.T) {
	tests := []struct {
		role   RoleDefinition
		action string
		want   bool
	}{
		{RoleOwner, "Microsoft.Authorization/roleAssignments/write", true},
		{RoleContributor, "Microsoft.Network/virtualNetworks/write", true},
		{RoleContributor, "Microsoft.Authorization/roleAssignments/write", false},
		{RoleContributor, "vpngw.Lab/action", false},
		{RoleReader, "Microsoft.Network/connections/sharedkey/read", true},
		{RoleReader, "Microsoft.Network/connections/write", false},
		{RoleReader, "Microsoft.Network/virtualNetworkGateways/reset/action", false},
		{RoleNetworkContributor, "microsoft.network/connections/write", true},
		{RoleNetworkContributor, "Microsoft.Resources/subscriptions/resourceGroups/read", true},
		{RoleNetworkContributor, "Microsoft.Resources/subscriptions/resourceGroups/write", false},
		{RoleNetworkContributor, "Microsoft.Authorization/roleAssignments/read", true},
		{RoleNetworkContributor, "Microsoft.Authorization/roleAssignments/write", false},
	}
	for _, tc := range tests {
		if got := tc.role.allows(tc.action); got != tc.want {
			t.Errorf("%s allows %s: %v", tc.role.Name, tc.action, got)
		}
	}
	for scope, path := range map[string]string{"/": "/subscriptions/s", "/subscriptions/S": "/subscriptions/s/resourceGroups/x", "/subscriptions/s/resourceGroups/rg": "/subscriptions/s/resourcegroups/RG"} {
		if !appliesTo(scope, path) {
			t.Errorf("%s does not cover %s", scope, path)
		}
	}
	if appliesTo("/subscriptions/s/resourceGroups/rg", "/subscriptions/s/resourceGroups/rg2") {
		t.Error("a group's scope covers a group with a longer name")
	}
}
