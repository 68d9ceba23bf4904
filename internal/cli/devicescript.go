package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/vpngw/vpngw/internal/resource"
)

// post sends a synchronous POST action and prints its answer (a JSON
// string for the device commands: -o tsv prints the text itself).
func (x *invocation) post(ctx context.Context, path string, body any) error {
	p, err := x.api.Post(ctx, path, body, nil)
	if err != nil {
		return err
	}
	return x.finish(ctx, p, false, true, nil)
}

func vnetGatewayShowSupportedDevicesCmd(e *env, g *globalOptions) *cobra.Command {
	var rg, name string
	cmd := leaf(e, g, "show-supported-devices", "Get an XML representation of the supported VPN devices.", func(ctx context.Context, x *invocation) error {
		return x.post(ctx, x.id(rg, resource.TypeVirtualNetworkGateways, name).String()+"/supportedvpndevices", nil)
	})
	cmd.Long = `List the on-premises VPN devices for which 'vpngw network vpn-connection
show-device-config-script' writes a configuration: an XML document
(RpVpnDeviceList) of vendors, device families and firmware versions, as
Azure's supportedvpndevices answers it.`
	cmd.Example = `  vpngw network vnet-gateway show-supported-devices -g MyResourceGroup -n MyVnetGateway -o tsv`
	groupFlag(cmd, &rg)
	cmd.Flags().StringVarP(&name, "name", "n", "", "Name of the VNet gateway.")
	required(cmd, "resource-group", "name")
	return cmd
}

func connectionDeviceScriptCmd(e *env, g *globalOptions) *cobra.Command {
	var rg, name, vendor, family, firmware string
	cmd := leaf(e, g, "show-device-config-script", "Get the configuration script of an on-premises VPN device for a connection.", func(ctx context.Context, x *invocation) error {
		return x.post(ctx, x.id(rg, resource.TypeConnections, name).String()+"/vpndeviceconfigurationscript",
			map[string]any{"vendor": vendor, "deviceFamily": family, "firmwareVersion": firmware})
	})
	cmd.Long = `Write the configuration of an on-premises VPN device for a site-to-site
connection: the gateway's public IP addresses (both, on an active-active
gateway), the address prefixes of both sides, the IKE version, the custom
IPsec/IKE policy or Azure's default proposals, dead peer detection and the
shared key. Choose the device from 'vpngw network vnet-gateway
show-supported-devices': strongSwan (swanctl.conf), Libreswan (ipsec.conf),
Cisco (IOS route-based VTI) or Generic (the parameters as text).

The script contains the shared key. Use -o tsv to get the text itself.`
	cmd.Example = `  vpngw network vpn-connection show-device-config-script -g MyResourceGroup -n MyConnection \
      --vendor strongSwan --device-family swanctl.conf --firmware-version "5.9 and later" -o tsv > azure.conf`
	groupFlag(cmd, &rg)
	f := cmd.Flags()
	f.StringVarP(&name, "name", "n", "", "Connection name.")
	f.StringVar(&vendor, "vendor", "", "The vendor for the VPN device.")
	f.StringVar(&family, "device-family", "", "The device family for the VPN device.")
	f.StringVar(&firmware, "firmware-version", "", "The firmware version for the VPN device.")
	required(cmd, "resource-group", "name", "vendor", "device-family", "firmware-version")
	return cmd
}
