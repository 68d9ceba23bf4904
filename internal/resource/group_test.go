package resource

import (
	"context"
	"slices"
	"strings"
	"testing"
)

func TestValidateResourceGroup(t *testing.T) {
	runValidate(t, func() *ResourceGroup {
		return &ResourceGroup{Envelope: Envelope{Name: "rg-1(test)", Location: "West Europe"}}
	}, []vcase[*ResourceGroup]{
		{name: "valid"},
		{name: "unicode letters", mut: func(r *ResourceGroup) { r.Name = "grüße" }},
		{name: "ends with period", mut: func(r *ResourceGroup) { r.Name = "rg." }, code: CodeInvalidResourceName, target: "name"},
		{name: "bad char", mut: func(r *ResourceGroup) { r.Name = "rg#1" }, code: CodeInvalidResourceName, target: "name"},
		{name: "91 chars", mut: func(r *ResourceGroup) { r.Name = strings.Repeat("r", 91) }, code: CodeInvalidResourceName, target: "name"},
		{name: "no location", mut: func(r *ResourceGroup) { r.Location = "" }, code: CodeInvalidLocation, target: "location"},
	})
}

func TestPlanGroupDelete(t *testing.T) {
	w := deleteWorld(t)
	// rg refers to "other" (cext -> ext); deleting rg itself is fine.
	plan, err := PlanGroupDelete(context.Background(), w.v, testSub, "RG")
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, o := range plan {
		order = append(order, TypeOf(o)+"/"+o.Meta().Name)
	}
	rank := map[string]int{TypeConnections: 0, TypeVirtualNetworkGateways: 1, TypeLocalNetworkGateways: 2, TypePublicIPAddresses: 3, TypeVirtualNetworks: 4}
	if !slices.IsSortedFunc(plan, func(a, b Object) int { return rank[TypeOf(a)] - rank[TypeOf(b)] }) {
		t.Fatalf("plan not in deletion order: %v", order)
	}
	if len(plan) != 3+2+2+6+3 || slices.Contains(order, "localNetworkGateways/ext") {
		t.Fatalf("plan = %v", order)
	}
	if _, err := PlanGroupDelete(context.Background(), w.v, testSub, "other"); err == nil {
		t.Fatal("group with outside references: want error")
	}
	expectErr(t, CheckDelete(context.Background(), w.v, groupObj("rg")), "", "")
}
