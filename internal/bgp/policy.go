package bgp

// Azure's route rules as GoBGP policies on the global RIB. They run inside
// GoBGP, so they also govern what GoBGP re-advertises between peers
// (transit), which the speaker never sees as individual messages.
//
//	import (learned -> RIB):   reject prefixes equal to or inside a VNet
//	                           prefix; accept everything else, 0.0.0.0/0 and
//	                           VNet supernets included.
//	export (RIB -> a peer):    reject 0.0.0.0/0; reject learned prefixes
//	                           that overlap the VNet (its supernets: the rest
//	                           never got in); accept everything else.
//
// GoBGP never sends a route back to the peer it came from, and eBGP
// prepends the gateway's ASN on export; best-path selection compares AS
// path length (prepending is honoured) before the tie-breakers.

import (
	"context"
	"fmt"
	"net/netip"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/server"
)

const (
	setDefault     = "vpngw-default"      // 0.0.0.0/0 exactly
	setVNetInside  = "vpngw-vnet-inside"  // VNet prefixes and everything inside them
	setVNetOverlap = "vpngw-vnet-overlap" // the above and every supernet of a VNet prefix
	policyImport   = "vpngw-import"
	policyExport   = "vpngw-export"
)

// insideEntries is the prefix-set of prefixes equal to or inside vnet.
func insideEntries(vnet []netip.Prefix) []*api.Prefix {
	var out []*api.Prefix
	for _, v := range vnet {
		out = append(out, &api.Prefix{IpPrefix: v.String(), MaskLengthMin: uint32(v.Bits()), MaskLengthMax: 32})
	}
	return out
}

// overlapEntries is insideEntries plus every strict supernet of each VNet
// prefix (two prefixes overlap exactly when one contains the other).
func overlapEntries(vnet []netip.Prefix) []*api.Prefix {
	out := insideEntries(vnet)
	seen := map[netip.Prefix]bool{}
	for _, v := range vnet {
		for b := 0; b < v.Bits(); b++ {
			s := netip.PrefixFrom(v.Addr(), b).Masked()
			if seen[s] {
				continue
			}
			seen[s] = true
			out = append(out, &api.Prefix{IpPrefix: s.String(), MaskLengthMin: uint32(b), MaskLengthMax: uint32(b)})
		}
	}
	return out
}

func prefixSet(name string, ps []*api.Prefix) *api.DefinedSet {
	return &api.DefinedSet{DefinedType: api.DefinedType_DEFINED_TYPE_PREFIX, Name: name, Prefixes: ps}
}

func reject(name string, c *api.Conditions) *api.Statement {
	return &api.Statement{Name: name, Conditions: c, Actions: &api.Actions{RouteAction: api.RouteAction_ROUTE_ACTION_REJECT}}
}

func matchAny(set string) *api.MatchSet {
	return &api.MatchSet{Type: api.MatchSet_TYPE_ANY, Name: set}
}

// azurePolicies returns the defined sets and the import and export
// policies for a VNet.
func azurePolicies(vnet []netip.Prefix) (sets []*api.DefinedSet, imp, exp *api.Policy) {
	sets = []*api.DefinedSet{prefixSet(setDefault, []*api.Prefix{{IpPrefix: "0.0.0.0/0"}})}
	imp = &api.Policy{Name: policyImport}
	exp = &api.Policy{Name: policyExport, Statements: []*api.Statement{
		reject("vpngw-export-no-default", &api.Conditions{PrefixSet: matchAny(setDefault)}),
	}}
	if len(vnet) > 0 {
		sets = append(sets, prefixSet(setVNetInside, insideEntries(vnet)), prefixSet(setVNetOverlap, overlapEntries(vnet)))
		// Only learned routes (eBGP and iBGP): the gateway's own VNet
		// prefixes pass through the import policy too.
		imp.Statements = append(imp.Statements,
			reject("vpngw-import-no-vnet-ebgp", &api.Conditions{PrefixSet: matchAny(setVNetInside), RouteType: api.Conditions_ROUTE_TYPE_EXTERNAL}),
			reject("vpngw-import-no-vnet-ibgp", &api.Conditions{PrefixSet: matchAny(setVNetInside), RouteType: api.Conditions_ROUTE_TYPE_INTERNAL}))
		exp.Statements = append(exp.Statements,
			reject("vpngw-export-no-learned-vnet", &api.Conditions{
				PrefixSet: matchAny(setVNetOverlap),
				RouteType: api.Conditions_ROUTE_TYPE_EXTERNAL,
			}))
	}
	return sets, imp, exp
}

// installPolicies loads the Azure policies into s and assigns them to the
// global RIB (default action: accept).
func installPolicies(ctx context.Context, s *server.BgpServer, vnet []netip.Prefix) error {
	sets, imp, exp := azurePolicies(vnet)
	for _, ds := range sets {
		if err := s.AddDefinedSet(ctx, &api.AddDefinedSetRequest{DefinedSet: ds}); err != nil {
			return fmt.Errorf("bgp: prefix set %s: %w", ds.Name, err)
		}
	}
	for _, a := range []struct {
		p   *api.Policy
		dir api.PolicyDirection
	}{{imp, api.PolicyDirection_POLICY_DIRECTION_IMPORT}, {exp, api.PolicyDirection_POLICY_DIRECTION_EXPORT}} {
		var assigned []*api.Policy
		if len(a.p.Statements) > 0 {
			if err := s.AddPolicy(ctx, &api.AddPolicyRequest{Policy: a.p}); err != nil {
				return fmt.Errorf("bgp: policy %s: %w", a.p.Name, err)
			}
			assigned = []*api.Policy{{Name: a.p.Name}}
		}
		err := s.SetPolicyAssignment(ctx, &api.SetPolicyAssignmentRequest{Assignment: &api.PolicyAssignment{
			Name:          "global",
			Direction:     a.dir,
			Policies:      assigned,
			DefaultAction: api.RouteAction_ROUTE_ACTION_ACCEPT,
		}})
		if err != nil {
			return fmt.Errorf("bgp: assign policy %s: %w", a.p.Name, err)
		}
	}
	return nil
}
