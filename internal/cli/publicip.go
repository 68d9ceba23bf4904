package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/vpngw/vpngw/internal/resource"
)

var publicIPKind = kind{
	typ:  resource.TypePublicIPAddresses,
	noun: "public IP address",
	cols: []column{
		col("Name", "name"),
		col("ResourceGroup", "resourceGroup"),
		col("Location", "location"),
		col("ProvisioningState", "provisioningState"),
		col("IpAddress", "ipAddress"),
		col("AllocationMethod", "publicIPAllocationMethod"),
		col("Sku", "sku.name"),
		col("Version", "publicIPAddressVersion"),
		col("Zones", "zones"),
	},
}

func publicIPCommand(e *env, g *globalOptions) *cobra.Command {
	cmd := newGroup("public-ip", "Manage public IP addresses.", `Manage public IP addresses. A VPN gateway needs one Standard, Static public IP
address (two for an active-active gateway); the Basic gateway SKU also takes a
Basic one. The address itself is allocated by the server.`)
	cmd.AddCommand(
		publicIPCreateCmd(e, g),
		showCmd(e, g, publicIPKind),
		listCmd(e, g, publicIPKind),
		deleteCmd(e, g, publicIPKind),
		waitCmd(e, g, publicIPKind),
	)
	return cmd
}

func publicIPCreateCmd(e *env, g *globalOptions) *cobra.Command {
	var rg, name, location, dnsName, tier string
	sku, version := "Standard", "IPv4"
	var allocation string
	var zones, tags []string
	var idle int
	var noWait bool
	cmd := leaf(e, g, "create", "Create a public IP address.", func(ctx context.Context, x *invocation) error {
		if allocation == "" {
			allocation = "Static"
			if sku == "Basic" {
				allocation = "Dynamic"
			}
		}
		t, err := tagsOf(tags)
		if err != nil {
			return err
		}
		loc, err := x.location(ctx, location, rg)
		if err != nil {
			return err
		}
		skuObj := map[string]any{"name": sku}
		if tier != "" {
			skuObj["tier"] = tier
		}
		props := map[string]any{
			"publicIPAllocationMethod": allocation,
			"publicIPAddressVersion":   version,
		}
		if dnsName != "" {
			props["dnsSettings"] = map[string]any{"domainNameLabel": dnsName}
		}
		if idle > 0 {
			props["idleTimeoutInMinutes"] = idle
		}
		body := map[string]any{"location": loc, "tags": t, "sku": skuObj, "properties": props}
		if z := nonEmpty(zones); len(z) > 0 {
			body["zones"] = strs(z)
		}
		return x.put(ctx, x.id(rg, resource.TypePublicIPAddresses, name).String(), body, "", noWait, publicIPKind.cols)
	})
	cmd.Example = "  vpngw network public-ip create -g MyResourceGroup -n MyGatewayIP --sku Standard --allocation-method Static"
	groupFlag(cmd, &rg)
	f := cmd.Flags()
	f.StringVarP(&name, "name", "n", "", "The name of the public IP address.")
	f.StringVarP(&location, "location", "l", "", helpLocation)
	addEnum(f, &sku, "sku", "", "Name of a public IP address SKU.", []string{"Basic", "Standard"})
	addEnum(f, &allocation, "allocation-method", "", "IP address allocation method. Default: Static for the Standard SKU, Dynamic for Basic.", []string{"Dynamic", "Static"})
	addEnum(f, &version, "version", "", "IP address type.", []string{"IPv4", "IPv6"})
	addEnum(f, &tier, "tier", "", "Tier of a public IP address SKU.", []string{"Global", "Regional"})
	addList(f, &zones, "zone", "z", "Space-separated list of availability zones into which to provision the resource.")
	f.StringVar(&dnsName, "dns-name", "", "Globally unique DNS entry.")
	f.IntVar(&idle, "idle-timeout", 0, "Idle timeout in minutes.")
	addList(f, &tags, "tags", "", helpTags)
	f.BoolVar(&noWait, "no-wait", false, helpNoWait)
	required(cmd, "resource-group", "name")
	return cmd
}
