package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/vpngw/vpngw/internal/client"
	"github.com/vpngw/vpngw/internal/resource"
)

var vnetGatewayKind = kind{
	typ:            resource.TypeVirtualNetworkGateways,
	noun:           "virtual network gateway",
	listNeedsGroup: true,
	cols: []column{
		col("Name", "name"),
		col("ResourceGroup", "resourceGroup"),
		col("Location", "location"),
		col("ProvisioningState", "provisioningState"),
		col("GatewayType", "gatewayType"),
		col("VpnType", "vpnType"),
		col("Sku", "sku.name"),
		col("Generation", "vpnGatewayGeneration"),
		col("ActiveActive", "activeActive"),
		col("EnableBgp", "enableBgp"),
	},
}

func vnetGatewayCommand(e *env, g *globalOptions) *cobra.Command {
	cmd := newGroup("vnet-gateway", "Manage virtual network gateways (VPN gateways).",
		`Manage virtual network gateways. A VPN gateway lives in the subnet named
GatewaySubnet of its virtual network and has one public IP address (two when
active-active). Creating one is a long-running operation; the command waits
for it unless --no-wait is given.`)
	cmd.AddCommand(
		vnetGatewayCreateCmd(e, g),
		showCmd(e, g, vnetGatewayKind),
		listCmd(e, g, vnetGatewayKind),
		vnetGatewayUpdateCmd(e, g),
		deleteCmd(e, g, vnetGatewayKind),
		vnetGatewayResetCmd(e, g),
		vnetGatewayListConnectionsCmd(e, g),
		vnetGatewayListInstancesCmd(e, g),
		vnetGatewayBGPCmd(e, g, "list-bgp-peer-status", "getBgpPeerStatus", false),
		vnetGatewayBGPCmd(e, g, "list-learned-routes", "getLearnedRoutes", false),
		vnetGatewayBGPCmd(e, g, "list-advertised-routes", "getAdvertisedRoutes", true),
		vnetGatewayShowSupportedDevicesCmd(e, g),
		vnetGatewayDisconnectCmd(e, g),
		vpnClientCommand(e, g),
		p2sCertCommand(e, g, rootCertKind),
		p2sCertCommand(e, g, revokedCertKind),
		p2sCertCommand(e, g, localUserKind),
		waitCmd(e, g, vnetGatewayKind),
	)
	return cmd
}

// bgpFlags are the BGP settings flags of gateways and local gateways.
type bgpFlags struct {
	asn        int64
	address    string
	peerWeight int32
}

func (b *bgpFlags) add(f *pflag.FlagSet, whose string) {
	f.Int64Var(&b.asn, "asn", 0, "Autonomous System Number to use for the BGP settings"+whose+".")
	f.StringVar(&b.address, "bgp-peering-address", "", "IP address to use for BGP peering"+whose+".")
	f.Int32Var(&b.peerWeight, "peer-weight", 0, "Weight (0-100) added to routes learned through BGP.")
}

// given reports whether any BGP flag was given.
func (b *bgpFlags) given(x *invocation) bool {
	return x.changed("asn") || x.changed("bgp-peering-address") || x.changed("peer-weight")
}

// apply writes the given BGP flags into props["bgpSettings"].
func (b *bgpFlags) apply(x *invocation, props map[string]any) {
	if !b.given(x) {
		return
	}
	s := obj(props, "bgpSettings")
	if x.changed("asn") {
		s["asn"] = b.asn
	}
	if x.changed("bgp-peering-address") {
		s["bgpPeeringAddress"] = b.address
	}
	if x.changed("peer-weight") {
		s["peerWeight"] = b.peerWeight
	}
}

// gatewayIPConfigs builds the ipConfigurations of a gateway in subnet
// (GatewaySubnet) with one public IP each, named as az names them.
func gatewayIPConfigs(subnet resource.ID, pips []resource.ID, names []string) []any {
	out := make([]any, len(pips))
	for i, pip := range pips {
		name := fmt.Sprintf("vnetGatewayConfig%d", i)
		if i < len(names) && names[i] != "" {
			name = names[i]
		}
		out[i] = map[string]any{
			"name": name,
			"properties": map[string]any{
				"privateIPAllocationMethod": "Dynamic",
				"subnet":                    subRef(subnet),
				"publicIPAddress":           subRef(pip),
			},
		}
	}
	return out
}

// dropPeeringAddresses removes from props' bgpSettings the
// bgpPeeringAddresses entries of the named ipConfigurations, which an update
// removed: the server lists one entry for each ipConfiguration of a gateway
// it read, and refuses a write naming one the gateway no longer has.
func dropPeeringAddresses(props map[string]any, removed []string) {
	bgp, _ := props["bgpSettings"].(map[string]any)
	list, _ := bgp["bgpPeeringAddresses"].([]any)
	if len(removed) == 0 || list == nil {
		return
	}
	kept := []any{}
	for _, e := range list {
		id, _ := lookup(e, "ipconfigurationId").(string)
		name := id[strings.LastIndex(id, "/")+1:]
		if !slices.ContainsFunc(removed, func(r string) bool { return strings.EqualFold(r, name) }) {
			kept = append(kept, e)
		}
	}
	bgp["bgpPeeringAddresses"] = kept
}

// publicIPs resolves --public-ip-addresses (names or IDs).
func (x *invocation) publicIPs(list []string, rg string) ([]resource.ID, error) {
	list = nonEmpty(list)
	if len(list) > 3 {
		return nil, usageError{fmt.Errorf("--public-ip-addresses takes 1 address (active-standby), 2 (active-active) or 3 (active-active with point-to-site); got %d", len(list))}
	}
	ids := make([]resource.ID, len(list))
	for i, p := range list {
		id, err := x.ref("public-ip-addresses", p, rg, resource.TypePublicIPAddresses)
		if err != nil {
			return nil, err
		}
		ids[i] = id
	}
	return ids, nil
}

// p2sFlags are the point-to-site flags of a gateway.
type p2sFlags struct {
	pool         []string
	protocols    []string
	authTypes    []string
	radiusServer string
	radiusSecret string
}

func (p *p2sFlags) add(f *pflag.FlagSet) {
	addList(f, &p.pool, "address-prefixes", "", "Space-separated list of CIDR prefixes representing the point-to-site client address pool.")
	addList(f, &p.protocols, "client-protocol", "", "Space-separated list of point-to-site client protocols. Accepted values: IkeV2, OpenVPN, SSTP (vpngw serves IkeV2 only).")
	addList(f, &p.authTypes, "vpn-auth-type", "", "Space-separated list of point-to-site authentication types. Accepted values: AAD, Certificate, Radius (vpngw serves Certificate and Radius).")
	f.StringVar(&p.radiusServer, "radius-server", "", "Radius server address to connect to.")
	f.StringVar(&p.radiusSecret, "radius-secret", "", "Radius secret to use for authentication.")
}

func (p *p2sFlags) apply(x *invocation, props map[string]any) error {
	if !x.changed("address-prefixes") && !x.changed("client-protocol") && !x.changed("vpn-auth-type") && !x.changed("radius-server") && !x.changed("radius-secret") {
		return nil
	}
	vc := obj(props, "vpnClientConfiguration")
	if x.changed("vpn-auth-type") {
		vc["vpnAuthenticationTypes"] = strs(nonEmpty(p.authTypes))
	}
	if x.changed("radius-server") {
		vc["radiusServerAddress"] = p.radiusServer
	}
	if x.changed("radius-secret") {
		vc["radiusServerSecret"] = p.radiusSecret
	}
	if x.changed("address-prefixes") {
		vc["vpnClientAddressPool"] = map[string]any{"addressPrefixes": strs(nonEmpty(p.pool))}
	}
	if x.changed("client-protocol") {
		var ps []any
		for _, c := range nonEmpty(p.protocols) {
			i := slices.IndexFunc([]string{"IkeV2", "OpenVPN", "SSTP"}, func(a string) bool { return strings.EqualFold(a, c) })
			if i < 0 {
				return usageError{fmt.Errorf("--client-protocol: invalid value %q: allowed values: IkeV2, OpenVPN, SSTP", c)}
			}
			ps = append(ps, []string{"IkeV2", "OpenVPN", "SSTP"}[i])
		}
		vc["vpnClientProtocols"] = ps
	}
	return nil
}

// skuFlag adds --sku, checked against the SKU table.
func skuFlag(f *pflag.FlagSet, p *string, def string) {
	names := append(resource.SKUNames(resource.GatewayTypeVpn), resource.SKUNames(resource.GatewayTypeExpressRoute)...)
	addEnum(f, p, "sku", "", "VNet gateway SKU.", slices.Compact(names))
	*p = def
}

func vnetGatewayCreateCmd(e *env, g *globalOptions) *cobra.Command {
	var rg, name, location, vnet, defaultSite string
	gatewayType, vpnType, sku := "Vpn", "RouteBased", ""
	var generation string
	var pips, tags []string
	var bgp bgpFlags
	var p2s p2sFlags
	var enableBgp optBool
	var noWait bool
	cmd := leaf(e, g, "create", "Create a virtual network gateway.", func(ctx context.Context, x *invocation) error {
		x.deprecated("public-ip-address", "public-ip-addresses")
		subnet, err := x.gatewaySubnet(vnet, rg)
		if err != nil {
			return err
		}
		ips, err := x.publicIPs(pips, rg)
		if err != nil {
			return err
		}
		t, err := tagsOf(tags)
		if err != nil {
			return err
		}
		props := map[string]any{
			"gatewayType":      gatewayType,
			"vpnType":          vpnType,
			"sku":              map[string]any{"name": sku, "tier": sku},
			"activeActive":     len(ips) >= 2,
			"enableBgp":        bgp.given(x),
			"ipConfigurations": gatewayIPConfigs(subnet, ips, nil),
		}
		if enableBgp.set {
			props["enableBgp"] = enableBgp.val
		}
		if generation != "" {
			props["vpnGatewayGeneration"] = generation
		}
		bgp.apply(x, props)
		if err := p2s.apply(x, props); err != nil {
			return err
		}
		if defaultSite != "" {
			site, err := x.ref("gateway-default-site", defaultSite, rg, resource.TypeLocalNetworkGateways)
			if err != nil {
				return err
			}
			props["gatewayDefaultSite"] = subRef(site)
		}
		loc, err := x.location(ctx, location, rg)
		if err != nil {
			return err
		}
		body := map[string]any{"location": loc, "tags": t, "properties": props}
		return x.put(ctx, x.id(rg, resource.TypeVirtualNetworkGateways, name).String(), body, "", noWait, vnetGatewayKind.cols)
	})
	cmd.Long = `Create a virtual network gateway in the GatewaySubnet of --vnet. Creating a
gateway is a long-running operation; the command waits until its
provisioningState is Succeeded (or Failed) unless --no-wait is given.

Two --public-ip-addresses make an active-active gateway.`
	cmd.Example = `  vpngw network vnet-gateway create -g MyResourceGroup -n MyVnetGateway --vnet MyVnet \
      --public-ip-addresses MyGatewayIP --gateway-type Vpn --vpn-type RouteBased \
      --sku VpnGw1 --vpn-gateway-generation Generation1 --no-wait`
	groupFlag(cmd, &rg)
	f := cmd.Flags()
	f.StringVarP(&name, "name", "n", "", "Name of the VNet gateway.")
	f.StringVarP(&location, "location", "l", "", helpLocation)
	f.StringVar(&vnet, "vnet", "", "Name or ID of an existing virtual network which has a subnet named 'GatewaySubnet' (vpngw also accepts the ID of the subnet itself).")
	addList(f, &pips, "public-ip-addresses", "", "Space-separated list of names or IDs of public IP addresses to use. Two make the gateway active-active.")
	addAlias(f, "public-ip-addresses", "public-ip-address", "")
	addEnum(f, &gatewayType, "gateway-type", "", "The gateway type.", []string{"ExpressRoute", "LocalGateway", "Vpn"})
	addEnum(f, &vpnType, "vpn-type", "", "VPN routing type.", []string{"PolicyBased", "RouteBased"})
	skuFlag(f, &sku, "Basic")
	f.Lookup("sku").Usage += " Default: Basic."
	addEnum(f, &generation, "vpn-gateway-generation", "", "The generation for the virtual network gateway; vpnGatewayGeneration must be None when gatewayType is not Vpn.", []string{"Generation1", "Generation2", "None"})
	addBool(f, &enableBgp, "enable-bgp", "Enable BGP (Border Gateway Protocol). Default: true when --asn, --bgp-peering-address or --peer-weight is given. Accepted values: false, true.")
	bgp.add(f, " of the gateway")
	p2s.add(f)
	f.StringVar(&defaultSite, "gateway-default-site", "", "Name or ID of a local network gateway representing a local network site with default routes.")
	addList(f, &tags, "tags", "", helpTags)
	f.BoolVar(&noWait, "no-wait", false, helpNoWait)
	required(cmd, "resource-group", "name", "vnet")
	return cmd
}

// gatewaySubnet resolves --vnet: a VNet name or ID means its GatewaySubnet
// (as in az); vpngw also takes a subnet ID, which the server then checks.
func (x *invocation) gatewaySubnet(vnet, rg string) (resource.ID, error) {
	if strings.HasPrefix(vnet, "/") {
		id, err := resource.ParseID(vnet, "--vnet")
		if err == nil && id.Type == resource.TypeVirtualNetworks && id.Child == resource.TypeSubnets {
			return id, nil
		}
	}
	id, err := x.ref("vnet", vnet, rg, resource.TypeVirtualNetworks)
	if err != nil {
		return resource.ID{}, err
	}
	id.Child, id.ChildName = resource.TypeSubnets, "GatewaySubnet"
	return id, nil
}

func vnetGatewayUpdateCmd(e *env, g *globalOptions) *cobra.Command {
	var rg, name, sku, defaultSite string
	var pips, tags []string
	var bgp bgpFlags
	var p2s p2sFlags
	var enableBgp optBool
	var noWait bool
	cmd := leaf(e, g, "update", "Update a virtual network gateway.", func(ctx context.Context, x *invocation) error {
		x.deprecated("public-ip-address", "public-ip-addresses")
		path := x.id(rg, resource.TypeVirtualNetworkGateways, name).String()
		return x.update(ctx, path, noWait, vnetGatewayKind.cols, func(gw map[string]any) error {
			props := obj(gw, "properties")
			if sku != "" {
				props["sku"] = map[string]any{"name": sku, "tier": sku}
			}
			if enableBgp.set {
				props["enableBgp"] = enableBgp.val
			}
			bgp.apply(x, props)
			if err := p2s.apply(x, props); err != nil {
				return err
			}
			if x.changed("gateway-default-site") {
				if defaultSite == "" {
					props["gatewayDefaultSite"] = nil
				} else {
					site, err := x.ref("gateway-default-site", defaultSite, rg, resource.TypeLocalNetworkGateways)
					if err != nil {
						return err
					}
					props["gatewayDefaultSite"] = subRef(site)
				}
			}
			if x.changed("public-ip-addresses") {
				ips, err := x.publicIPs(pips, rg)
				if err != nil {
					return err
				}
				old, _ := props["ipConfigurations"].([]any)
				if len(old) == 0 {
					return fmt.Errorf("gateway %s has no ipConfigurations to take the GatewaySubnet from", name)
				}
				subnetID, _ := lookup(old[0].(map[string]any), "properties.subnet.id").(string)
				subnet, err := resource.ParseID(subnetID, "properties.ipConfigurations[0].properties.subnet.id")
				if err != nil {
					return err
				}
				var names []string
				for _, c := range old {
					n, _ := c.(map[string]any)["name"].(string)
					names = append(names, n)
				}
				props["ipConfigurations"] = gatewayIPConfigs(subnet, ips, names)
				props["activeActive"] = len(ips) >= 2
				dropPeeringAddresses(props, names[min(len(ips), len(names)):])
			}
			return setTags(x, gw, tags)
		})
	})
	cmd.Long = `Update a virtual network gateway: resize it (--sku, within its series and
generation), change its BGP settings, switch between active-standby and
active-active (--public-ip-addresses with one or two addresses), set the
point-to-site pool or tags. The command reads the gateway and writes it back
with If-Match, so a concurrent change is never overwritten.`
	groupFlag(cmd, &rg)
	f := cmd.Flags()
	f.StringVarP(&name, "name", "n", "", "Name of the VNet gateway.")
	skuFlag(f, &sku, "")
	addBool(f, &enableBgp, "enable-bgp", "Enable BGP (Border Gateway Protocol). Accepted values: false, true.")
	bgp.add(f, " of the gateway")
	p2s.add(f)
	addList(f, &pips, "public-ip-addresses", "", "Space-separated list of names or IDs of public IP addresses to use. Two make the gateway active-active.")
	addAlias(f, "public-ip-addresses", "public-ip-address", "")
	f.StringVar(&defaultSite, "gateway-default-site", "", `Name or ID of a local network gateway representing a local network site with default routes. Use "" to remove it.`)
	addList(f, &tags, "tags", "", helpTags)
	f.BoolVar(&noWait, "no-wait", false, helpNoWait)
	required(cmd, "resource-group", "name")
	return cmd
}

func vnetGatewayResetCmd(e *env, g *globalOptions) *cobra.Command {
	var rg, name, vip string
	var noWait bool
	cmd := leaf(e, g, "reset", "Reset a virtual network gateway.", func(ctx context.Context, x *invocation) error {
		var o *client.RequestOptions
		if vip != "" {
			o = &client.RequestOptions{Query: url.Values{"gatewayVip": {vip}}}
		}
		p, err := x.api.Post(ctx, x.id(rg, resource.TypeVirtualNetworkGateways, name).String()+"/reset", nil, o)
		if err != nil {
			return err
		}
		return x.finish(ctx, p, noWait, true, vnetGatewayKind.cols)
	})
	cmd.Long = `Reset a virtual network gateway: restart it and re-apply its configuration. The
public IP address is kept. On an active-active gateway, --gateway-vip resets
only the instance with that public IP address.`
	groupFlag(cmd, &rg)
	f := cmd.Flags()
	f.StringVarP(&name, "name", "n", "", "Name of the VNet gateway.")
	f.StringVar(&vip, "gateway-vip", "", "Virtual IP address of the active-active gateway instance to reset.")
	f.BoolVar(&noWait, "no-wait", false, helpNoWait)
	required(cmd, "resource-group", "name")
	return cmd
}

func vnetGatewayListConnectionsCmd(e *env, g *globalOptions) *cobra.Command {
	var rg, name string
	cmd := leaf(e, g, "list-connections", "List the connections of a virtual network gateway.", func(ctx context.Context, x *invocation) error {
		return x.list(ctx, x.id(rg, resource.TypeVirtualNetworkGateways, name).String()+"/connections", connectionKind.cols)
	})
	groupFlag(cmd, &rg)
	cmd.Flags().StringVarP(&name, "name", "n", "", "Name of the VNet gateway.")
	required(cmd, "resource-group", "name")
	return cmd
}

// instanceCols are the table columns of list-instances.
var instanceCols = []column{
	col("Name", "name"),
	col("Role", "role"),
	col("State", "state"),
	col("PublicIP", "publicIpAddress"),
	col("PrivateIP", "privateIpAddress"),
	col("LastReport", "lastReport"),
	{header: "Applied/Desired", value: func(o any) string {
		return cell(lookup(o, "appliedRevision")) + "/" + cell(lookup(o, "desiredRevision"))
	}},
}

func vnetGatewayListInstancesCmd(e *env, g *globalOptions) *cobra.Command {
	var rg, name string
	cmd := leaf(e, g, "list-instances", "List the instances of a virtual network gateway (vpngw extension).", func(ctx context.Context, x *invocation) error {
		return x.list(ctx, x.id(rg, resource.TypeVirtualNetworkGateways, name).String()+"/instances", instanceCols)
	})
	cmd.Long = `List the instances of a virtual network gateway: the two gateway instances
(vpngw agent processes) that run it, with their IDs, roles (active or
standby), public and private addresses, when each last reported to the
control plane, the assignment revision it runs against the one it should
run, and its connections' status. This is a vpngw extension; az has no such
command.

With --provider host, the instance names are what each gateway host's agent
is started with: vpngw agent --server URL --instance NAME (see docs/host.md).
With --provider none there are no instances and the command fails with
InstancesNotAvailable.`
	cmd.Example = `  vpngw network vnet-gateway list-instances -g MyResourceGroup -n MyVnetGateway -o table`
	groupFlag(cmd, &rg)
	cmd.Flags().StringVarP(&name, "name", "n", "", "Name of the VNet gateway.")
	required(cmd, "resource-group", "name")
	return cmd
}

// bgpPeerCols and gatewayRouteCols are the table columns of the BGP
// listings (az's).
var (
	bgpPeerCols = []column{
		col("Neighbor", "neighbor"), col("ASN", "asn"), col("State", "state"), col("ConnectedDuration", "connectedDuration"),
		col("RoutesReceived", "routesReceived"), col("MessagesSent", "messagesSent"), col("MessagesReceived", "messagesReceived"),
	}
	gatewayRouteCols = []column{
		col("Network", "network"), col("NextHop", "nextHop"), col("Origin", "origin"), col("SourcePeer", "sourcePeer"),
		col("AsPath", "asPath"), col("Weight", "weight"),
	}
)

// vnetGatewayBGPCmd is one of az's BGP listings of a gateway: a POST of
// action, whose result ({"value": [...]}) is printed as az prints it: the
// object, or its entries as table rows.
func vnetGatewayBGPCmd(e *env, g *globalOptions, use, action string, needPeer bool) *cobra.Command {
	var rg, name, peer string
	short := map[string]string{
		"getBgpPeerStatus":    "Retrieve the status of BGP peers.",
		"getLearnedRoutes":    "This operation retrieves a list of routes the virtual network gateway has learned, including routes learned from BGP peers.",
		"getAdvertisedRoutes": "This operation retrieves a list of routes the virtual network gateway is advertising to the specified peer.",
	}[action]
	cols := gatewayRouteCols
	if action == "getBgpPeerStatus" {
		cols = bgpPeerCols
	}
	cmd := leaf(e, g, use, short, func(ctx context.Context, x *invocation) error {
		var o *client.RequestOptions
		if peer != "" {
			o = &client.RequestOptions{Query: url.Values{"peer": {peer}}}
		}
		p, err := x.api.Post(ctx, x.id(rg, resource.TypeVirtualNetworkGateways, name).String()+"/"+action, nil, o)
		if err != nil {
			return err
		}
		if err := x.finish(ctx, p, false, false, nil); err != nil {
			return err
		}
		if f := x.out.format; f != "table" && f != "tsv" {
			// az prints the result object, {"value": [...]}.
			return x.show(p.Body(), cols)
		}
		var res struct {
			Value []json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal(p.Body(), &res); err != nil {
			return fmt.Errorf("the server answered %s with %q: %w", action, p.Body(), err)
		}
		raw := make([][]byte, len(res.Value))
		for i, v := range res.Value {
			raw[i] = v
		}
		return x.showList(raw, cols)
	})
	cmd.Long = short + `

The answer comes from the gateway instances' latest reports: each entry's
localAddress names the instance (both instances when active-active). -o table
shows az's columns.`
	cmd.Example = "  vpngw network vnet-gateway " + use + " -g MyResourceGroup -n MyVnetGateway"
	if needPeer {
		cmd.Example += " --peer 10.0.0.254"
	}
	groupFlag(cmd, &rg)
	f := cmd.Flags()
	f.StringVarP(&name, "name", "n", "", "Name of the VNet gateway.")
	if action != "getLearnedRoutes" {
		f.StringVar(&peer, "peer", "", "The IP address of the BGP peer.")
	}
	if needPeer {
		required(cmd, "resource-group", "name", "peer")
	} else {
		required(cmd, "resource-group", "name")
	}
	return cmd
}
