package cli

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vpngw/vpngw/internal/resource"
)

// Point-to-site commands of vnet-gateway, in az's words: vpn-client
// generate / show-url / show-health, root-cert and revoked-cert create / delete,
// and local-user create / delete (a vpngw extension),
// disconnect-vpn-connections.

func vpnClientCommand(e *env, g *globalOptions) *cobra.Command {
	cmd := newGroup("vpn-client", "Download a VPN client configuration package and see the connected clients.",
		`Point-to-site clients of a virtual network gateway: the client
configuration package (generate, show-url) and the connected clients
(show-health).`)
	cmd.AddCommand(vpnClientGenerateCmd(e, g), vpnClientShowURLCmd(e, g), vpnClientShowHealthCmd(e, g), vpnClientIpsecPolicyCommand(e, g))
	return cmd
}

func vpnClientIpsecPolicyCommand(e *env, g *globalOptions) *cobra.Command {
	cmd := newGroup("ipsec-policy", "Manage the VPN client connection ipsec-policy for P2S client connection.",
		`The custom IPsec/IKE policy of a gateway's point-to-site IKEv2 clients
(vpnClientIpsecPolicies; at most one, all eight parameters required). Once
set, clients must propose exactly its suite: the default offer is
replaced. Without one the gateway accepts Azure's default point-to-site
suites and more (docs/p2s.md).`)
	gwPath := func(x *invocation, rg, name string) string {
		return x.id(rg, resource.TypeVirtualNetworkGateways, name).String()
	}

	var sRG, sName string
	var pf policyFlags
	var sNoWait bool
	set := leaf(e, g, "set", "Set the VPN client connection ipsec-policy per P2S client connection.", func(ctx context.Context, x *invocation) error {
		p, err := x.api.Post(ctx, gwPath(x, sRG, sName)+"/setvpnclientipsecparameters", pf.body(), nil)
		if err != nil {
			return err
		}
		if err := x.finish(ctx, p, sNoWait, false, nil); err != nil || sNoWait {
			return err
		}
		return x.post(ctx, gwPath(x, sRG, sName)+"/getvpnclientipsecparameters", nil)
	})
	set.Long = `Set the gateway's point-to-site IPsec/IKE policy
(setvpnclientipsecparameters): it replaces the default offer, so IKEv2
clients proposing anything else are refused (NO_PROPOSAL_CHOSEN); the
connected clients are disconnected and must reconnect with the new suite.
Not on the Basic SKU. Prints the policy once the gateway applied it.`
	set.Example = `  vpngw network vnet-gateway vpn-client ipsec-policy set -g MyResourceGroup -n MyVnetGateway \
      --ike-encryption AES256 --ike-integrity SHA384 --dh-group ECP384 \
      --ipsec-encryption GCMAES256 --ipsec-integrity GCMAES256 --pfs-group None \
      --sa-lifetime 27000 --sa-max-size 102400000`
	groupFlag(set, &sRG)
	set.Flags().StringVarP(&sName, "name", "n", "", "Name of the VNet gateway.")
	pf.register(set)
	set.Flags().BoolVar(&sNoWait, "no-wait", false, helpNoWait)
	required(set, "resource-group", "name")

	var shRG, shName string
	show := leaf(e, g, "show", "Show the VPN client connection ipsec-policy per P2S client connection.", func(ctx context.Context, x *invocation) error {
		return x.post(ctx, gwPath(x, shRG, shName)+"/getvpnclientipsecparameters", nil)
	})
	show.Long = `Show the gateway's point-to-site IPsec/IKE policy (getvpnclientipsecparameters).
Without a custom policy vpngw shows {"default": true, "value": [...]}, Azure's
default point-to-site suites.`
	groupFlag(show, &shRG)
	show.Flags().StringVarP(&shName, "name", "n", "", "Name of the VNet gateway.")
	required(show, "resource-group", "name")

	var cRG, cName string
	var cNoWait bool
	clear := leaf(e, g, "clear", "Remove the VPN client connection ipsec-policy (vpngw extension).", func(ctx context.Context, x *invocation) error {
		return x.update(ctx, gwPath(x, cRG, cName), cNoWait, vnetGatewayKind.cols, func(o map[string]any) error {
			vc, _ := obj(o, "properties")["vpnClientConfiguration"].(map[string]any)
			if vc == nil {
				return fmt.Errorf("gateway %s has no point-to-site configuration (vpnClientConfiguration)", cName)
			}
			vc["vpnClientIpsecPolicies"] = []any{}
			return nil
		})
	})
	clear.Long = `Remove the gateway's point-to-site IPsec/IKE policy (vpnClientIpsecPolicies
set to [] by a gateway update; az has no such command): the default offer
returns. Clients reconnect.`
	groupFlag(clear, &cRG)
	clear.Flags().StringVarP(&cName, "name", "n", "", "Name of the VNet gateway.")
	clear.Flags().BoolVar(&cNoWait, "no-wait", false, helpNoWait)
	required(clear, "resource-group", "name")

	cmd.AddCommand(set, show, clear)
	return cmd
}

func vpnClientGenerateCmd(e *env, g *globalOptions) *cobra.Command {
	var rg, name, auth, arch, radiusCert string
	cmd := leaf(e, g, "generate", "Generate a VPN client configuration package.", func(ctx context.Context, x *invocation) error {
		body := map[string]any{}
		if auth != "" {
			body["authenticationMethod"] = auth
		}
		if radiusCert != "" {
			body["radiusServerAuthCertificate"] = certBody(radiusCert)
		}
		if arch != "" {
			body["processorArchitecture"] = arch
		}
		return x.post(ctx, x.id(rg, resource.TypeVirtualNetworkGateways, name).String()+"/generatevpnprofile", body)
	})
	cmd.Long = `Generate the gateway's point-to-site client package and print the URL it can
be downloaded from for an hour (a zip): Azure's Generic/VpnSettings.xml and
Generic/VpnServerRoot.cer (the CA that vouches for the gateway), a ready
strongSwan directory (strongSwan/swanctl.conf, laid out like /etc/swanctl)
and a NetworkManager keyfile. With certificate authentication, put the
client's certificate in strongSwan/x509/client.pem and its key in
strongSwan/private/; then 'swanctl --load-all --file swanctl.conf' and
'swanctl --initiate --child GATEWAY' connect. The client's certificate goes
inside EAP-TLS (auth = eap-tls); with --authentication-method EAPTLS on a
gateway with Radius authentication only, EAP-TLS is with the RADIUS server,
whose CA --radius-server-auth-certificate gives.`
	cmd.Example = `  curl -o vpnclient.zip "$(vpngw network vnet-gateway vpn-client generate -g MyResourceGroup -n MyVnetGateway -o tsv)"`
	groupFlag(cmd, &rg)
	f := cmd.Flags()
	f.StringVarP(&name, "name", "n", "", "Name of the VNet gateway.")
	addEnum(f, &auth, "authentication-method", "", "Method used to authenticate with the generated client.", []string{"EAPMSCHAPv2", "EAPTLS"})
	f.StringVar(&radiusCert, "radius-server-auth-certificate", "", "Public certificate data for the Radius server auth certificate in Base-64 format, or its file. Required only if external Radius auth has been configured with EAPTLS auth (vpngw: the CA that issued the RADIUS server's certificate).")
	addEnum(f, &arch, "processor-architecture", "", "Processor architecture of the target system (accepted, unused: vpngw builds no installers).", []string{"Amd64", "X86"})
	required(cmd, "resource-group", "name")
	return cmd
}

func vpnClientShowURLCmd(e *env, g *globalOptions) *cobra.Command {
	var rg, name string
	cmd := leaf(e, g, "show-url", "Retrieve a pre-generated VPN client configuration.", func(ctx context.Context, x *invocation) error {
		return x.post(ctx, x.id(rg, resource.TypeVirtualNetworkGateways, name).String()+"/getvpnprofilepackageurl", nil)
	})
	cmd.Long = `Print the URL of the gateway's latest client package, the one the last
'vpn-client generate' built (getvpnprofilepackageurl), while its hour lasts.
It fails (VpnClientPackageNotFound) when none was generated.`
	cmd.Example = `  curl -o vpnclient.zip "$(vpngw network vnet-gateway vpn-client show-url -g MyResourceGroup -n MyVnetGateway -o tsv)"`
	groupFlag(cmd, &rg)
	cmd.Flags().StringVarP(&name, "name", "n", "", "Name of the VNet gateway.")
	required(cmd, "resource-group", "name")
	return cmd
}

func vpnClientShowHealthCmd(e *env, g *globalOptions) *cobra.Command {
	var rg, name string
	cmd := leaf(e, g, "show-health", "Get the VPN client connection health detail per client connection.", func(ctx context.Context, x *invocation) error {
		return x.post(ctx, x.id(rg, resource.TypeVirtualNetworkGateways, name).String()+"/getvpnclientconnectionhealth", nil)
	})
	cmd.Long = `Show the connected point-to-site clients: session ID (vpnConnectionId, what
disconnect-vpn-connections takes), user, public and private address, when
it connected and for how long, and bytes and packets both ways.`
	groupFlag(cmd, &rg)
	cmd.Flags().StringVarP(&name, "name", "n", "", "Name of the VNet gateway.")
	required(cmd, "resource-group", "name")
	return cmd
}

func vnetGatewayDisconnectCmd(e *env, g *globalOptions) *cobra.Command {
	var rg, name string
	var ids []string
	cmd := leaf(e, g, "disconnect-vpn-connections", "Disconnect vpn connections of virtual network gateway.", func(ctx context.Context, x *invocation) error {
		return x.post(ctx, x.id(rg, resource.TypeVirtualNetworkGateways, name).String()+"/disconnectvirtualnetworkgatewayvpnconnections",
			map[string]any{"vpnConnectionIds": strs(nonEmpty(ids))})
	})
	cmd.Long = `End point-to-site sessions by their vpnConnectionId (from 'vpn-client
show-health'): the clients are told and their addresses return to the pool.`
	groupFlag(cmd, &rg)
	f := cmd.Flags()
	f.StringVarP(&name, "name", "n", "", "Name of the VNet gateway.")
	addList(f, &ids, "vpn-connection-ids", "", "List of the vpn connection ids of virtual network gateway.")
	required(cmd, "resource-group", "name", "vpn-connection-ids")
	return cmd
}

// p2sCertKind is root-cert, revoked-cert or local-user: a named entry of a
// list in vpnClientConfiguration with one property.
type p2sCertKind struct {
	use, what, list, field, flag, flagHelp string
	// long, if set, replaces the group's description.
	long string
}

var (
	rootCertKind = p2sCertKind{use: "root-cert", what: "VPN client root certificate", list: "vpnClientRootCertificates",
		field: "publicCertData", flag: "public-cert-data", flagHelp: "Base64 contents of the root certificate file or file path."}
	revokedCertKind = p2sCertKind{use: "revoked-cert", what: "revoked VPN client certificate", list: "vpnClientRevokedCertificates",
		field: "thumbprint", flag: "thumbprint", flagHelp: "Certificate thumbprint."}
	localUserKind = p2sCertKind{use: "local-user", what: "point-to-site local user", list: "vpnClientLocalUsers",
		field: "password", flag: "password", flagHelp: "The user's password (8 to 128 characters; write-only: no show prints it).",
		long: `Manage the point-to-site users the gateway checks itself with EAP-MSCHAPv2
(vpnClientLocalUsers, a vpngw extension: Azure checks user names and
passwords only through RADIUS, and local users exclude Radius
authentication). Passwords are write-only and sealed at rest. Clients use
the profile of 'vpn-client generate --authentication-method EAPMSCHAPv2'.`}
)

func p2sCertCommand(e *env, g *globalOptions, k p2sCertKind) *cobra.Command {
	long := k.long
	if long == "" {
		long = "Manage the " + k.what + "s of a gateway's point-to-site configuration (" + k.list + ")."
	}
	cmd := newGroup(k.use, "Manage "+k.what+"s.", long)
	cmd.AddCommand(p2sCertCreateCmd(e, g, k), p2sCertDeleteCmd(e, g, k))
	return cmd
}

// certBody is a certificate flag's value as Azure's fields want it: the
// Base64 DER body, from the value itself or the file it names (a .cer in
// Base64 may keep its PEM lines).
func certBody(value string) string {
	v := value
	if b, err := os.ReadFile(value); err == nil {
		v = string(b)
	}
	return strings.Join(strings.Fields(strings.NewReplacer("-----BEGIN CERTIFICATE-----", "", "-----END CERTIFICATE-----", "").Replace(v)), "")
}

func p2sCertCreateCmd(e *env, g *globalOptions, k p2sCertKind) *cobra.Command {
	var rg, gw, name, value string
	var noWait bool
	short := "Upload a " + k.what + "."
	if k.use == localUserKind.use {
		short = "Add a " + k.what + "."
	}
	cmd := leaf(e, g, "create", short, func(ctx context.Context, x *invocation) error {
		v := value
		if k.use == rootCertKind.use {
			v = certBody(value)
		}
		return x.update(ctx, x.id(rg, resource.TypeVirtualNetworkGateways, gw).String(), noWait, vnetGatewayKind.cols, func(o map[string]any) error {
			vc := obj(obj(o, "properties"), "vpnClientConfiguration")
			l, _ := vc[k.list].([]any)
			for _, c := range l {
				if n, _ := c.(map[string]any)["name"].(string); strings.EqualFold(n, name) {
					return fmt.Errorf("%s %q already exists on gateway %s", k.use, name, gw)
				}
			}
			vc[k.list] = append(l, map[string]any{"name": name, "properties": map[string]any{k.field: v}})
			return nil
		})
	})
	cmd.Long = "Add a " + k.what + " to a gateway (" + k.list + "); the gateway is updated as a long-running operation."
	switch k.use {
	case revokedCertKind.use:
		cmd.Long += " Clients whose certificate chain has the thumbprint are refused, and connected ones are disconnected."
	case localUserKind.use:
		cmd.Long += " Adding or deleting a user, or changing a password, applies in place: only the deleted user's sessions, or those of the user whose password changed, end."
	}
	groupFlag(cmd, &rg)
	f := cmd.Flags()
	f.StringVar(&gw, "gateway-name", "", "Virtual network gateway name.")
	f.StringVarP(&name, "name", "n", "", "Name of the "+k.what+".")
	f.StringVar(&value, k.flag, "", k.flagHelp)
	f.BoolVar(&noWait, "no-wait", false, helpNoWait)
	required(cmd, "resource-group", "gateway-name", "name", k.flag)
	return cmd
}

func p2sCertDeleteCmd(e *env, g *globalOptions, k p2sCertKind) *cobra.Command {
	var rg, gw, name string
	var noWait bool
	cmd := leaf(e, g, "delete", "Delete a "+k.what+".", func(ctx context.Context, x *invocation) error {
		return x.update(ctx, x.id(rg, resource.TypeVirtualNetworkGateways, gw).String(), noWait, vnetGatewayKind.cols, func(o map[string]any) error {
			vc := obj(obj(o, "properties"), "vpnClientConfiguration")
			l, _ := vc[k.list].([]any)
			keep := []any{}
			for _, c := range l {
				if n, _ := c.(map[string]any)["name"].(string); !strings.EqualFold(n, name) {
					keep = append(keep, c)
				}
			}
			if len(keep) == len(l) {
				return fmt.Errorf("gateway %s has no %s named %q", gw, k.use, name)
			}
			vc[k.list] = keep
			return nil
		})
	})
	groupFlag(cmd, &rg)
	f := cmd.Flags()
	f.StringVar(&gw, "gateway-name", "", "Virtual network gateway name.")
	f.StringVarP(&name, "name", "n", "", "Name of the "+k.what+".")
	f.BoolVar(&noWait, "no-wait", false, helpNoWait)
	required(cmd, "resource-group", "gateway-name", "name")
	return cmd
}
