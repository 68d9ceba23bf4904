package cli

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vpngw/vpngw/internal/client"
	"github.com/vpngw/vpngw/internal/resource"
)

// addNetworkCommands attaches "vpngw network", az's "az network".
func addNetworkCommands(root *cobra.Command, e *env) {
	g := &globalOptions{}
	network := newGroup("network", "Manage virtual networks, public IP addresses, gateways and VPN connections.",
		`Manage network resources in the style of 'az network': virtual networks and
their subnets, public IP addresses, virtual network gateways, local network
gateways and VPN connections.

The commands talk to the vpngw API (vpngw serve) at --server, default
$VPNGW_URL, else `+DefaultServer+`.`)
	addGlobalFlags(network, g)
	network.AddCommand(
		vnetCommand(e, g),
		publicIPCommand(e, g),
		vnetGatewayCommand(e, g),
		localGatewayCommand(e, g),
		vpnConnectionCommand(e, g),
	)
	root.AddCommand(network)
}

// kind describes one top-level resource type for the commands every type
// has (show, list, delete, wait).
type kind struct {
	// typ is the ARM type segment, e.g. resource.TypeVirtualNetworks.
	typ string
	// noun names the resource in help texts, e.g. "virtual network".
	noun string
	// cols is the table output.
	cols []column
	// listNeedsGroup makes -g required for list (otherwise list without -g
	// lists the whole subscription).
	listNeedsGroup bool
}

// Flag help texts shared by many commands, worded as az words them.
const (
	helpGroup    = "Name of resource group."
	helpLocation = "Location. Default: the location of the resource group."
	helpTags     = `Space-separated tags: key[=value] [key[=value] ...]. Use "" to clear existing tags.`
	helpNoWait   = "Do not wait for the long-running operation to finish."
)

func groupFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVarP(p, "resource-group", "g", "", helpGroup)
}

func showCmd(e *env, g *globalOptions, k kind) *cobra.Command {
	var rg, name string
	cmd := leaf(e, g, "show", "Get the details of a "+k.noun+".", func(ctx context.Context, x *invocation) error {
		resp, err := x.api.Get(ctx, x.id(rg, k.typ, name).String(), nil)
		if err != nil {
			return err
		}
		return x.show(resp.Body, k.cols)
	})
	groupFlag(cmd, &rg)
	cmd.Flags().StringVarP(&name, "name", "n", "", "Name of the "+k.noun+".")
	required(cmd, "resource-group", "name")
	return cmd
}

func listCmd(e *env, g *globalOptions, k kind) *cobra.Command {
	var rg string
	short := "List " + k.noun + "s."
	cmd := leaf(e, g, "list", short, func(ctx context.Context, x *invocation) error {
		return x.list(ctx, x.listPath(rg, k.typ), k.cols)
	})
	groupFlag(cmd, &rg)
	if k.listNeedsGroup {
		required(cmd, "resource-group")
	} else {
		cmd.Long = short + " Without --resource-group, list those of the whole subscription."
	}
	return cmd
}

func deleteCmd(e *env, g *globalOptions, k kind) *cobra.Command {
	var rg, name string
	var noWait bool
	cmd := leaf(e, g, "delete", "Delete a "+k.noun+".", func(ctx context.Context, x *invocation) error {
		return x.del(ctx, x.id(rg, k.typ, name).String(), noWait)
	})
	cmd.Long = "Delete a " + k.noun + ". Deleting one that does not exist succeeds."
	groupFlag(cmd, &rg)
	cmd.Flags().StringVarP(&name, "name", "n", "", "Name of the "+k.noun+".")
	cmd.Flags().BoolVar(&noWait, "no-wait", false, helpNoWait)
	required(cmd, "resource-group", "name")
	return cmd
}

// waitCmd is az's generic "wait": poll a resource until a condition holds.
func waitCmd(e *env, g *globalOptions, k kind) *cobra.Command {
	var rg, name string
	var created, updated, deleted, exists bool
	var interval, timeout int
	cmd := leaf(e, g, "wait", "Place the CLI in a waiting state until a condition of the "+k.noun+" is met.", func(ctx context.Context, x *invocation) error {
		if !created && !updated && !deleted && !exists {
			return usageError{fmt.Errorf("one of --created, --updated, --deleted or --exists is required")}
		}
		if interval < 1 || timeout < 1 {
			return usageError{fmt.Errorf("--interval and --timeout must be positive")}
		}
		return x.waitFor(ctx, x.id(rg, k.typ, name).String(), created || updated, deleted,
			time.Duration(interval)*time.Second, time.Duration(timeout)*time.Second)
	})
	cmd.Long = `Place the CLI in a waiting state until a condition of the ` + k.noun + ` is met,
for example after a command run with --no-wait.`
	cmd.Example = fmt.Sprintf("  vpngw network %s wait -g MyResourceGroup -n MyName --created", strings.Fields(kindCommand[k.typ])[0])
	groupFlag(cmd, &rg)
	f := cmd.Flags()
	f.StringVarP(&name, "name", "n", "", "Name of the "+k.noun+".")
	f.BoolVar(&created, "created", false, "Wait until created with 'provisioningState' at 'Succeeded'.")
	f.BoolVar(&updated, "updated", false, "Wait until updated with provisioningState at 'Succeeded'.")
	f.BoolVar(&deleted, "deleted", false, "Wait until deleted.")
	f.BoolVar(&exists, "exists", false, "Wait until the resource exists.")
	f.IntVar(&interval, "interval", 2, "Polling interval in seconds.")
	f.IntVar(&timeout, "timeout", 3600, "Maximum wait in seconds.")
	required(cmd, "resource-group", "name")
	return cmd
}

// kindCommand maps a type to its command name, for examples.
var kindCommand = map[string]string{
	resource.TypeVirtualNetworks:        "vnet",
	resource.TypePublicIPAddresses:      "public-ip",
	resource.TypeVirtualNetworkGateways: "vnet-gateway",
	resource.TypeLocalNetworkGateways:   "local-gateway",
	resource.TypeConnections:            "vpn-connection",
}

// waitFor polls path every interval until it is provisioned (provisioned),
// gone (gone) or merely exists (neither), for at most timeout.
func (x *invocation) waitFor(ctx context.Context, path string, provisioned, gone bool, interval, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	stop := startSpinner(x.e.stderr)
	defer stop()
	for {
		obj, _, err := x.get(ctx, path)
		switch ae, _ := client.AsError(err); {
		case ae != nil && ae.StatusCode == http.StatusNotFound:
			if gone {
				return nil
			}
		case err != nil:
			if ctx.Err() == nil {
				return err
			}
		case gone:
		case provisioned:
			ps, _ := lookup(obj, "properties.provisioningState").(string)
			switch {
			case strings.EqualFold(ps, resource.ProvisioningSucceeded):
				return nil
			case strings.EqualFold(ps, resource.ProvisioningFailed):
				return fmt.Errorf("the provisioning state of %s is Failed", path)
			}
		default:
			return nil
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("timed out waiting for %s", path)
		case <-t.C:
		}
	}
}

// ---- virtual networks ----

var vnetKind = kind{
	typ:  resource.TypeVirtualNetworks,
	noun: "virtual network",
	cols: []column{
		col("Name", "name"),
		col("ResourceGroup", "resourceGroup"),
		col("Location", "location"),
		col("ProvisioningState", "provisioningState"),
		countCol("NumSubnets", "subnets"),
		col("Prefixes", "addressSpace.addressPrefixes"),
		col("DnsServers", "dhcpOptions.dnsServers"),
	},
}

func vnetCommand(e *env, g *globalOptions) *cobra.Command {
	cmd := newGroup("vnet", "Manage virtual networks.", "Manage virtual networks and their subnets.")
	cmd.AddCommand(
		vnetCreateCmd(e, g),
		showCmd(e, g, vnetKind),
		listCmd(e, g, vnetKind),
		vnetUpdateCmd(e, g),
		deleteCmd(e, g, vnetKind),
		waitCmd(e, g, vnetKind),
		subnetCommand(e, g),
	)
	return cmd
}

// subnetBody is the ARM body of a subnet: addressPrefix for one prefix,
// addressPrefixes for several (as az sends them).
func subnetProps(prefixes []string) map[string]any {
	if len(prefixes) == 1 {
		return map[string]any{"addressPrefix": prefixes[0]}
	}
	return map[string]any{"addressPrefixes": strs(prefixes)}
}

func vnetCreateCmd(e *env, g *globalOptions) *cobra.Command {
	var rg, name, location, subnetName string
	var prefixes, subnetPrefixes, dns, tags []string
	var noWait bool
	cmd := leaf(e, g, "create", "Create a virtual network.", func(ctx context.Context, x *invocation) error {
		x.deprecated("subnet-prefix", "subnet-prefixes")
		if len(subnetPrefixes) > 0 && subnetName == "" {
			return usageError{fmt.Errorf("--subnet-prefixes requires --subnet-name")}
		}
		if len(prefixes) == 0 {
			prefixes = []string{"10.0.0.0/16"}
		}
		if subnetName != "" && len(subnetPrefixes) == 0 {
			subnetPrefixes = []string{"10.0.0.0/24"}
		}
		t, err := tagsOf(tags)
		if err != nil {
			return err
		}
		loc, err := x.location(ctx, location, rg)
		if err != nil {
			return err
		}
		props := map[string]any{
			"addressSpace": map[string]any{"addressPrefixes": strs(prefixes)},
			"subnets":      []any{},
		}
		if d := nonEmpty(dns); len(d) > 0 {
			props["dhcpOptions"] = map[string]any{"dnsServers": strs(d)}
		}
		if subnetName != "" {
			props["subnets"] = []any{map[string]any{"name": subnetName, "properties": subnetProps(subnetPrefixes)}}
		}
		body := map[string]any{"location": loc, "tags": t, "properties": props}
		return x.put(ctx, x.id(rg, resource.TypeVirtualNetworks, name).String(), body, "", noWait, vnetKind.cols)
	})
	cmd.Example = `  vpngw network vnet create -g MyResourceGroup -n MyVnet --address-prefixes 10.1.0.0/16 \
      --subnet-name GatewaySubnet --subnet-prefixes 10.1.255.0/27`
	groupFlag(cmd, &rg)
	f := cmd.Flags()
	f.StringVarP(&name, "name", "n", "", "Name of the virtual network.")
	f.StringVarP(&location, "location", "l", "", helpLocation)
	addList(f, &prefixes, "address-prefixes", "", "Space-separated list of IP address prefixes for the VNet. Default: 10.0.0.0/16.")
	f.StringVar(&subnetName, "subnet-name", "", "Name of a new subnet to create within the VNet.")
	addList(f, &subnetPrefixes, "subnet-prefixes", "", "Space-separated list of address prefixes in CIDR format for the new subnet. Default: 10.0.0.0/24 when --subnet-name is given.")
	addAlias(f, "subnet-prefixes", "subnet-prefix", "")
	addList(f, &dns, "dns-servers", "", "Space-separated list of DNS server IP addresses.")
	addList(f, &tags, "tags", "", helpTags)
	f.BoolVar(&noWait, "no-wait", false, helpNoWait)
	required(cmd, "resource-group", "name")
	return cmd
}

func vnetUpdateCmd(e *env, g *globalOptions) *cobra.Command {
	var rg, name string
	var prefixes, dns, tags []string
	var noWait bool
	cmd := leaf(e, g, "update", "Update a virtual network.", func(ctx context.Context, x *invocation) error {
		path := x.id(rg, resource.TypeVirtualNetworks, name).String()
		return x.update(ctx, path, noWait, vnetKind.cols, func(vnet map[string]any) error {
			props := obj(vnet, "properties")
			if x.changed("address-prefixes") {
				obj(props, "addressSpace")["addressPrefixes"] = strs(nonEmpty(prefixes))
			}
			if x.changed("dns-servers") {
				obj(props, "dhcpOptions")["dnsServers"] = strs(nonEmpty(dns))
			}
			return setTags(x, vnet, tags)
		})
	})
	cmd.Long = `Update a virtual network. The command reads the virtual network, changes what
the flags say and writes it back with If-Match, so a concurrent change is
never overwritten (the command then fails with PreconditionFailed).`
	groupFlag(cmd, &rg)
	f := cmd.Flags()
	f.StringVarP(&name, "name", "n", "", "Name of the virtual network.")
	addList(f, &prefixes, "address-prefixes", "", "Space-separated list of IP address prefixes for the VNet (replaces the current list).")
	addList(f, &dns, "dns-servers", "", `Space-separated list of DNS server IP addresses. Use "" to use Azure-provided DNS.`)
	addList(f, &tags, "tags", "", helpTags)
	f.BoolVar(&noWait, "no-wait", false, helpNoWait)
	required(cmd, "resource-group", "name")
	return cmd
}

// update is az's read-modify-write: GET the resource, let modify change
// it, PUT it back with If-Match so that a concurrent change is not lost.
func (x *invocation) update(ctx context.Context, path string, noWait bool, cols []column, modify func(map[string]any) error) error {
	cur, etag, err := x.get(ctx, path)
	if err != nil {
		return err
	}
	if err := modify(cur); err != nil {
		return err
	}
	return x.put(ctx, path, cur, etag, noWait, cols)
}

// setTags replaces the tags of a resource when --tags was given.
func setTags(x *invocation, res map[string]any, tags []string) error {
	if !x.changed("tags") {
		return nil
	}
	t, err := tagsOf(tags)
	if err != nil {
		return err
	}
	res["tags"] = t
	return nil
}

// ---- subnets ----

var subnetColumns = []column{
	col("Name", "name"),
	col("ResourceGroup", "resourceGroup"),
	col("ProvisioningState", "provisioningState"),
	col("AddressPrefix", "addressPrefix"),
	col("AddressPrefixes", "addressPrefixes"),
}

func subnetCommand(e *env, g *globalOptions) *cobra.Command {
	cmd := newGroup("subnet", "Manage subnets in a virtual network.", `Manage subnets in a virtual network. A virtual network gateway needs a subnet
named exactly GatewaySubnet (/29 at least, /27 or larger recommended).`)
	path := func(x *invocation, rg, vnet, name string) string {
		id := x.id(rg, resource.TypeVirtualNetworks, vnet)
		id.Child, id.ChildName = resource.TypeSubnets, name
		return id.String()
	}
	flags := func(cmd *cobra.Command, rg, vnet, name *string, withName bool) {
		groupFlag(cmd, rg)
		cmd.Flags().StringVar(vnet, "vnet-name", "", "The virtual network (VNet) name.")
		if withName {
			cmd.Flags().StringVarP(name, "name", "n", "", "The subnet name.")
			required(cmd, "resource-group", "vnet-name", "name")
		} else {
			required(cmd, "resource-group", "vnet-name")
		}
	}

	var cRG, cVnet, cName string
	var cPrefixes []string
	var cNoWait bool
	create := leaf(e, g, "create", "Create a subnet.", func(ctx context.Context, x *invocation) error {
		x.deprecated("address-prefix", "address-prefixes")
		body := map[string]any{"name": cName, "properties": subnetProps(nonEmpty(cPrefixes))}
		return x.put(ctx, path(x, cRG, cVnet, cName), body, "", cNoWait, subnetColumns)
	})
	create.Example = "  vpngw network vnet subnet create -g MyResourceGroup --vnet-name MyVnet -n GatewaySubnet --address-prefixes 10.1.255.0/27"
	flags(create, &cRG, &cVnet, &cName, true)
	addList(create.Flags(), &cPrefixes, "address-prefixes", "", "Space-separated list of address prefixes in CIDR format.")
	addAlias(create.Flags(), "address-prefixes", "address-prefix", "")
	create.Flags().BoolVar(&cNoWait, "no-wait", false, helpNoWait)
	required(create, "resource-group", "vnet-name", "name", "address-prefixes")

	var sRG, sVnet, sName string
	show := leaf(e, g, "show", "Show details of a subnet.", func(ctx context.Context, x *invocation) error {
		resp, err := x.api.Get(ctx, path(x, sRG, sVnet, sName), nil)
		if err != nil {
			return err
		}
		return x.show(resp.Body, subnetColumns)
	})
	flags(show, &sRG, &sVnet, &sName, true)

	var lRG, lVnet string
	list := leaf(e, g, "list", "List the subnets in a virtual network.", func(ctx context.Context, x *invocation) error {
		return x.list(ctx, x.id(lRG, resource.TypeVirtualNetworks, lVnet).String()+"/subnets", subnetColumns)
	})
	flags(list, &lRG, &lVnet, nil, false)

	var uRG, uVnet, uName string
	var uPrefixes []string
	var uNoWait bool
	update := leaf(e, g, "update", "Update a subnet.", func(ctx context.Context, x *invocation) error {
		x.deprecated("address-prefix", "address-prefixes")
		return x.update(ctx, path(x, uRG, uVnet, uName), uNoWait, subnetColumns, func(s map[string]any) error {
			if x.changed("address-prefixes") {
				props := obj(s, "properties")
				delete(props, "addressPrefix")
				delete(props, "addressPrefixes")
				for k, v := range subnetProps(nonEmpty(uPrefixes)) {
					props[k] = v
				}
			}
			return nil
		})
	})
	flags(update, &uRG, &uVnet, &uName, true)
	addList(update.Flags(), &uPrefixes, "address-prefixes", "", "Space-separated list of address prefixes in CIDR format (replaces the current ones).")
	addAlias(update.Flags(), "address-prefixes", "address-prefix", "")
	update.Flags().BoolVar(&uNoWait, "no-wait", false, helpNoWait)

	var dRG, dVnet, dName string
	var dNoWait bool
	del := leaf(e, g, "delete", "Delete a subnet.", func(ctx context.Context, x *invocation) error {
		return x.del(ctx, path(x, dRG, dVnet, dName), dNoWait)
	})
	del.Long = "Delete a subnet. Deleting a subnet that does not exist succeeds; a subnet in use (e.g. by a gateway) is refused."
	flags(del, &dRG, &dVnet, &dName, true)
	del.Flags().BoolVar(&dNoWait, "no-wait", false, helpNoWait)

	cmd.AddCommand(create, show, list, update, del)
	return cmd
}
