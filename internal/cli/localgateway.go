package cli

import (
	"context"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/vpngw/vpngw/internal/resource"
)

var localGatewayKind = kind{
	typ:            resource.TypeLocalNetworkGateways,
	noun:           "local VPN gateway",
	listNeedsGroup: true,
	cols: []column{
		col("Name", "name"),
		col("ResourceGroup", "resourceGroup"),
		col("Location", "location"),
		col("ProvisioningState", "provisioningState"),
		col("GatewayIpAddress", "gatewayIpAddress"),
		col("Fqdn", "fqdn"),
		col("AddressPrefixes", "localNetworkAddressSpace.addressPrefixes"),
		col("Asn", "bgpSettings.asn"),
	},
}

func localGatewayCommand(e *env, g *globalOptions) *cobra.Command {
	cmd := newGroup("local-gateway", "Manage local gateways.", `Manage local network gateways. A local network gateway represents the
on-premises site: its VPN device's public IP address (or FQDN), the address
prefixes behind it and, with BGP, its ASN and BGP peer address.`)
	cmd.AddCommand(
		localGatewayCreateCmd(e, g),
		showCmd(e, g, localGatewayKind),
		listCmd(e, g, localGatewayKind),
		localGatewayUpdateCmd(e, g),
		deleteCmd(e, g, localGatewayKind),
		waitCmd(e, g, localGatewayKind),
	)
	return cmd
}

// localGatewayFlags are the settings create and update share.
type localGatewayFlags struct {
	ip, fqdn string
	prefixes []string
	bgp      bgpFlags
	tags     []string
	noWait   bool
}

func (l *localGatewayFlags) add(f *pflag.FlagSet, update bool) {
	f.StringVar(&l.ip, "gateway-ip-address", "", "Gateway's public IP address (e.g. the IP address of the on-premises VPN device).")
	f.StringVar(&l.fqdn, "fqdn", "", "FQDN of the on-premises VPN device, used instead of --gateway-ip-address.")
	usage := "Space-separated list of CIDR prefixes representing the address space of the on-premises site."
	if update {
		usage += ` Replaces the current list; "" clears it.`
	}
	addList(f, &l.prefixes, "local-address-prefixes", "", usage)
	l.bgp.add(f, " of the on-premises device")
	addList(f, &l.tags, "tags", "", helpTags)
	f.BoolVar(&l.noWait, "no-wait", false, helpNoWait)
}

func (l *localGatewayFlags) apply(x *invocation, lng map[string]any) error {
	props := obj(lng, "properties")
	if x.changed("gateway-ip-address") {
		props["gatewayIpAddress"] = l.ip
	}
	if x.changed("fqdn") {
		props["fqdn"] = l.fqdn
	}
	if x.changed("local-address-prefixes") {
		obj(props, "localNetworkAddressSpace")["addressPrefixes"] = strs(nonEmpty(l.prefixes))
	}
	l.bgp.apply(x, props)
	return setTags(x, lng, l.tags)
}

func localGatewayCreateCmd(e *env, g *globalOptions) *cobra.Command {
	var rg, name, location string
	var l localGatewayFlags
	cmd := leaf(e, g, "create", "Create a local VPN gateway.", func(ctx context.Context, x *invocation) error {
		loc, err := x.location(ctx, location, rg)
		if err != nil {
			return err
		}
		lng := map[string]any{
			"location": loc,
			"tags":     map[string]any{},
			"properties": map[string]any{
				"localNetworkAddressSpace": map[string]any{"addressPrefixes": []any{}},
			},
		}
		if err := l.apply(x, lng); err != nil {
			return err
		}
		return x.put(ctx, x.id(rg, resource.TypeLocalNetworkGateways, name).String(), lng, "", l.noWait, localGatewayKind.cols)
	})
	cmd.Example = `  vpngw network local-gateway create -g MyResourceGroup -n MyLocalGateway \
      --gateway-ip-address 203.0.113.10 --local-address-prefixes 192.168.0.0/16`
	groupFlag(cmd, &rg)
	f := cmd.Flags()
	f.StringVarP(&name, "name", "n", "", "Name of the local network gateway.")
	f.StringVarP(&location, "location", "l", "", helpLocation)
	l.add(f, false)
	required(cmd, "resource-group", "name")
	return cmd
}

func localGatewayUpdateCmd(e *env, g *globalOptions) *cobra.Command {
	var rg, name string
	var l localGatewayFlags
	cmd := leaf(e, g, "update", "Update a local VPN gateway.", func(ctx context.Context, x *invocation) error {
		path := x.id(rg, resource.TypeLocalNetworkGateways, name).String()
		return x.update(ctx, path, l.noWait, localGatewayKind.cols, func(lng map[string]any) error { return l.apply(x, lng) })
	})
	cmd.Long = `Update a local network gateway. The command reads it, changes what the flags
say and writes it back with If-Match, so a concurrent change is never
overwritten.`
	groupFlag(cmd, &rg)
	f := cmd.Flags()
	f.StringVarP(&name, "name", "n", "", "Name of the local network gateway.")
	l.add(f, true)
	required(cmd, "resource-group", "name")
	return cmd
}
