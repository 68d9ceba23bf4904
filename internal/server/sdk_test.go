package server

import (
	"context"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v9"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"

	"github.com/vpngw/vpngw/internal/armerr"
	"github.com/vpngw/vpngw/internal/identity"
	"github.com/vpngw/vpngw/internal/resource"
	"github.com/vpngw/vpngw/internal/tlsca"
	"github.com/vpngw/vpngw/internal/tstest"
)

// sdkCloud is the Azure SDK's view of a vpngw server at ep over HTTPS
// trusting its CA: a custom cloud whose authority host is the server
// (tenant adfs: an AD FS authority) and whose ARM audience is the one
// /metadata/endpoints publishes.
func sdkCloud(t *testing.T, ep, caFile string) azcore.ClientOptions {
	t.Helper()
	pool, err := tlsca.Pool(caFile)
	if err != nil {
		t.Fatal(err)
	}
	return azcore.ClientOptions{
		Cloud: cloud.Configuration{
			ActiveDirectoryAuthorityHost: ep + "/",
			Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
				cloud.ResourceManager: {Audience: ep + "/", Endpoint: ep},
			},
		},
		Transport: &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}},
	}
}

func adminCredential(t *testing.T, dataDir string) identity.Credential {
	t.Helper()
	b, err := os.ReadFile(AdminCredentialFile(dataDir))
	if err != nil {
		t.Fatal(err)
	}
	var c identity.Credential
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestAzureSDKForGo: the Azure SDK for Go, unmodified, against `vpngw
// serve` over HTTPS: a real azidentity.ClientSecretCredential signs in at
// the server's own token endpoint (client-credentials grant, AD FS
// authority), and armresources and armnetwork/v9 run a site-to-site
// lifecycle with their pollers: group, VNet with GatewaySubnet, public IP,
// gateway create, resize (the object GET returned, another SKU) and reset,
// local gateway, a connection that embeds the gateway and site
// objects, shared key get/set/reset, resetconnection, tags, list, delete.
// A wrong secret is refused at sign-in.
func TestAzureSDKForGo(t *testing.T) {
	sdk := newSDKServer(t)
	ctx, copts, c := sdk.ctx, sdk.copts, sdk.admin
	bad, err := azidentity.NewClientSecretCredential(identity.Tenant, c.ClientID, "wrong", &azidentity.ClientSecretCredentialOptions{ClientOptions: copts, DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	badGroups, err := armresources.NewResourceGroupsClient(resource.DefaultSubscription, bad, &arm.ClientOptions{ClientOptions: copts})
	if err != nil {
		t.Fatal(err)
	}
	var authErr *azidentity.AuthenticationFailedError
	if _, err := badGroups.CheckExistence(ctx, "x", nil); !errors.As(err, &authErr) {
		t.Fatalf("wrong secret: %v", err)
	}
	cred, aopts, sub, poll := sdk.cred, sdk.aopts, sdk.sub, sdk.poll
	const rg = "sdk-rg"

	groups, err := armresources.NewResourceGroupsClient(sub, cred, aopts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := groups.CreateOrUpdate(ctx, rg, armresources.ResourceGroup{Location: to.Ptr("eastus")}, nil); err != nil {
		t.Fatalf("group: %v", err)
	}
	if ex, err := groups.CheckExistence(ctx, rg, nil); err != nil || !ex.Success {
		t.Fatalf("group exists: %v %v", ex, err)
	}
	if ex, err := groups.CheckExistence(ctx, "nope", nil); err != nil || ex.Success {
		t.Fatalf("missing group exists: %v %v", ex, err)
	}

	f, err := armnetwork.NewClientFactory(sub, cred, aopts)
	if err != nil {
		t.Fatal(err)
	}
	vp, err := f.NewVirtualNetworksClient().BeginCreateOrUpdate(ctx, rg, "VNet1", armnetwork.VirtualNetwork{
		Location: to.Ptr("eastus"),
		Properties: &armnetwork.VirtualNetworkPropertiesFormat{
			AddressSpace: &armnetwork.AddressSpace{AddressPrefixes: []*string{to.Ptr("10.1.0.0/16")}},
			Subnets: []*armnetwork.Subnet{{Name: to.Ptr("GatewaySubnet"),
				Properties: &armnetwork.SubnetPropertiesFormat{AddressPrefix: to.Ptr("10.1.255.0/27")}}},
		},
	}, nil)
	if err != nil {
		t.Fatalf("vnet: %v", err)
	}
	vnet, err := vp.PollUntilDone(ctx, poll)
	if err != nil {
		t.Fatalf("vnet: %v", err)
	}
	pp, err := f.NewPublicIPAddressesClient().BeginCreateOrUpdate(ctx, rg, "VNet1GWIP", armnetwork.PublicIPAddress{
		Location:   to.Ptr("eastus"),
		SKU:        &armnetwork.PublicIPAddressSKU{Name: to.Ptr(armnetwork.PublicIPAddressSKUNameStandard)},
		Properties: &armnetwork.PublicIPAddressPropertiesFormat{PublicIPAllocationMethod: to.Ptr(armnetwork.IPAllocationMethodStatic)},
	}, nil)
	if err != nil {
		t.Fatalf("public IP: %v", err)
	}
	pip, err := pp.PollUntilDone(ctx, poll)
	if err != nil {
		t.Fatalf("public IP: %v", err)
	}
	gws := f.NewVirtualNetworkGatewaysClient()
	gp, err := gws.BeginCreateOrUpdate(ctx, rg, "VNet1GW", armnetwork.VirtualNetworkGateway{
		Location: to.Ptr("eastus"),
		Properties: &armnetwork.VirtualNetworkGatewayPropertiesFormat{
			GatewayType:          to.Ptr(armnetwork.VirtualNetworkGatewayTypeVPN),
			VPNType:              to.Ptr(armnetwork.VPNTypeRouteBased),
			VPNGatewayGeneration: to.Ptr(armnetwork.VPNGatewayGenerationGeneration2),
			SKU: &armnetwork.VirtualNetworkGatewaySKU{Name: to.Ptr(armnetwork.VirtualNetworkGatewaySKUNameVPNGw2),
				Tier: to.Ptr(armnetwork.VirtualNetworkGatewaySKUTierVPNGw2)},
			IPConfigurations: []*armnetwork.VirtualNetworkGatewayIPConfiguration{{Name: to.Ptr("default"),
				Properties: &armnetwork.VirtualNetworkGatewayIPConfigurationPropertiesFormat{
					Subnet:                    &armnetwork.SubResource{ID: vnet.Properties.Subnets[0].ID},
					PublicIPAddress:           &armnetwork.SubResource{ID: pip.ID},
					PrivateIPAllocationMethod: to.Ptr(armnetwork.IPAllocationMethodDynamic),
				}}},
		},
	}, nil)
	if err != nil {
		t.Fatalf("gateway: %v", err)
	}
	gw, err := gp.PollUntilDone(ctx, poll)
	if err != nil || *gw.Properties.ProvisioningState != armnetwork.ProvisioningStateSucceeded {
		t.Fatalf("gateway: %v", err)
	}
	// Resize: the gateway as GET returned it, with another SKU of the
	// same generation.
	gw.Properties.SKU = &armnetwork.VirtualNetworkGatewaySKU{Name: to.Ptr(armnetwork.VirtualNetworkGatewaySKUNameVPNGw3),
		Tier: to.Ptr(armnetwork.VirtualNetworkGatewaySKUTierVPNGw3)}
	up, err := gws.BeginCreateOrUpdate(ctx, rg, "VNet1GW", gw.VirtualNetworkGateway, nil)
	if err != nil {
		t.Fatalf("gateway resize: %v", err)
	}
	if gw, err = up.PollUntilDone(ctx, poll); err != nil || *gw.Properties.SKU.Name != armnetwork.VirtualNetworkGatewaySKUNameVPNGw3 {
		t.Fatalf("gateway resize: %v", err)
	}
	rp, err := gws.BeginReset(ctx, rg, "VNet1GW", nil)
	if err != nil {
		t.Fatalf("gateway reset: %v", err)
	}
	if _, err := rp.PollUntilDone(ctx, poll); err != nil {
		t.Fatalf("gateway reset: %v", err)
	}
	lp, err := f.NewLocalNetworkGatewaysClient().BeginCreateOrUpdate(ctx, rg, "Site1", armnetwork.LocalNetworkGateway{
		Location: to.Ptr("eastus"),
		Properties: &armnetwork.LocalNetworkGatewayPropertiesFormat{
			GatewayIPAddress:         to.Ptr("192.0.2.10"),
			LocalNetworkAddressSpace: &armnetwork.AddressSpace{AddressPrefixes: []*string{to.Ptr("10.101.0.0/24")}},
		},
	}, nil)
	if err != nil {
		t.Fatalf("local gateway: %v", err)
	}
	lng, err := lp.PollUntilDone(ctx, poll)
	if err != nil {
		t.Fatalf("local gateway: %v", err)
	}
	conns := f.NewVirtualNetworkGatewayConnectionsClient()
	cp, err := conns.BeginCreateOrUpdate(ctx, rg, "VNet1toSite1", armnetwork.VirtualNetworkGatewayConnection{
		Location: to.Ptr("eastus"),
		Properties: &armnetwork.VirtualNetworkGatewayConnectionPropertiesFormat{
			ConnectionType: to.Ptr(armnetwork.VirtualNetworkGatewayConnectionTypeIPsec),
			// The SDK's way: the whole objects as GET returned them.
			VirtualNetworkGateway1: &gw.VirtualNetworkGateway,
			LocalNetworkGateway2:   &lng.LocalNetworkGateway,
			SharedKey:              to.Ptr("abc123"),
		},
	}, nil)
	if err != nil {
		t.Fatalf("connection: %v", err)
	}
	if _, err := cp.PollUntilDone(ctx, poll); err != nil {
		t.Fatalf("connection: %v", err)
	}
	if k, err := conns.GetSharedKey(ctx, rg, "VNet1toSite1", nil); err != nil || *k.Value != "abc123" {
		t.Fatalf("shared key: %v", err)
	}
	sp, err := conns.BeginSetSharedKey(ctx, rg, "VNet1toSite1", armnetwork.ConnectionSharedKey{Value: to.Ptr("def456")}, nil)
	if err != nil {
		t.Fatalf("set shared key: %v", err)
	}
	if _, err := sp.PollUntilDone(ctx, poll); err != nil {
		t.Fatalf("set shared key: %v", err)
	}
	if k, err := conns.GetSharedKey(ctx, rg, "VNet1toSite1", nil); err != nil || *k.Value != "def456" {
		t.Fatalf("shared key after set: %v", err)
	}
	kp, err := conns.BeginResetSharedKey(ctx, rg, "VNet1toSite1", armnetwork.ConnectionResetSharedKey{KeyLength: to.Ptr[int32](32)}, nil)
	if err != nil {
		t.Fatalf("reset shared key: %v", err)
	}
	if _, err := kp.PollUntilDone(ctx, poll); err != nil {
		t.Fatalf("reset shared key: %v", err)
	}
	rcp, err := conns.BeginResetConnection(ctx, rg, "VNet1toSite1", nil)
	if err != nil {
		t.Fatalf("resetconnection: %v", err)
	}
	if _, err := rcp.PollUntilDone(ctx, poll); err != nil {
		t.Fatalf("resetconnection: %v", err)
	}
	tp, err := conns.BeginUpdateTags(ctx, rg, "VNet1toSite1", armnetwork.TagsObject{Tags: map[string]*string{"env": to.Ptr("test")}}, nil)
	if err != nil {
		t.Fatalf("tags: %v", err)
	}
	if tagged, err := tp.PollUntilDone(ctx, poll); err != nil || *tagged.Tags["env"] != "test" {
		t.Fatalf("tags: %v", err)
	}
	n := 0
	for pager := conns.NewListPager(rg, nil); pager.More(); {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		n += len(page.Value)
	}
	if n != 1 {
		t.Fatalf("list: %d connections", n)
	}
	dp, err := conns.BeginDelete(ctx, rg, "VNet1toSite1", nil)
	if err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := dp.PollUntilDone(ctx, poll); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := conns.Get(ctx, rg, "VNet1toSite1", nil); err == nil {
		t.Fatal("the connection is still there")
	}
}

// TestAzureSDKCertificateCredential: a service principal registered with a
// certificate signs in with azidentity's ClientCertificateCredential (a
// client assertion signed with the certificate's key) and gets its role's
// rights: a Reader lists groups and is refused a PUT with 403. A
// credential with another key for the same client is refused at sign-in.
func TestAzureSDKCertificateCredential(t *testing.T) {
	data := t.TempDir()
	addr, _ := runNone(t, Options{DataDir: data})
	ep := "https://" + addr
	copts := sdkCloud(t, ep, CAFile(data))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	selfSigned := func() (*x509.Certificate, *rsa.PrivateKey, []byte) { return tstest.SelfSignedRSA(t) }
	cert, key, certPEM := selfSigned()
	p, err := identity.NewCertificatePrincipal("sdk-cert", certPEM)
	if err != nil {
		t.Fatal(err)
	}
	idDir := filepath.Join(data, IdentityDir)
	if err := identity.AddPrincipal(idDir, p); err != nil {
		t.Fatal(err)
	}
	if err := identity.Assign(idDir, identity.RoleAssignment{Name: "77777777-7777-4777-8777-777777777777",
		Scope: "/subscriptions/" + resource.DefaultSubscription, RoleID: identity.RoleReader.ID, PrincipalID: p.ObjectID}); err != nil {
		t.Fatal(err)
	}
	groupsWith := func(cert *x509.Certificate, key *rsa.PrivateKey) *armresources.ResourceGroupsClient {
		cred, err := azidentity.NewClientCertificateCredential(identity.Tenant, p.AppID, []*x509.Certificate{cert}, key,
			&azidentity.ClientCertificateCredentialOptions{ClientOptions: copts, DisableInstanceDiscovery: true})
		if err != nil {
			t.Fatal(err)
		}
		g, err := armresources.NewResourceGroupsClient(resource.DefaultSubscription, cred, &arm.ClientOptions{ClientOptions: copts})
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	groups := groupsWith(cert, key)
	if _, err := groups.NewListPager(nil).NextPage(ctx); err != nil {
		t.Fatalf("Reader lists groups: %v", err)
	}
	var re *azcore.ResponseError
	if _, err := groups.CreateOrUpdate(ctx, "rg", armresources.ResourceGroup{Location: to.Ptr("eastus")}, nil); !errors.As(err, &re) ||
		re.StatusCode != http.StatusForbidden || re.ErrorCode != armerr.CodeAuthorizationFailed {
		t.Fatalf("Reader creates a group: %v", err)
	}
	otherCert, otherKey, _ := selfSigned()
	var authErr *azidentity.AuthenticationFailedError
	if _, err := groupsWith(otherCert, otherKey).NewListPager(nil).NextPage(ctx); !errors.As(err, &authErr) {
		t.Fatalf("another key: %v", err)
	}
}
