package server

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v9"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"

	"github.com/vpngw/vpngw/internal/identity"
	"github.com/vpngw/vpngw/internal/resource"
)

// TestAzureSDKForGoActions: the gateway actions Azure runs as long-running
// operations, through the Azure SDK for Go's pollers (final state via
// Location): setvpnclientipsecparameters returns the policy once the
// gateway is updated, getvpnclientipsecparameters (200 at once, as
// Azure's spec has it) returns it, and
// getBgpPeerStatus on a server without instances is refused up front with
// the ARM error.
func TestAzureSDKForGoActions(t *testing.T) {
	sdk := newSDKServer(t)
	ctx, cred, aopts, sub, poll := sdk.ctx, sdk.cred, sdk.aopts, sdk.sub, sdk.poll
	const rg, loc = "sdk-actions", "westus"
	groups, err := armresources.NewResourceGroupsClient(sub, cred, aopts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := groups.CreateOrUpdate(ctx, rg, armresources.ResourceGroup{Location: to.Ptr(loc)}, nil); err != nil {
		t.Fatalf("group: %v", err)
	}
	f, err := armnetwork.NewClientFactory(sub, cred, aopts)
	if err != nil {
		t.Fatal(err)
	}
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	vp, err := f.NewVirtualNetworksClient().BeginCreateOrUpdate(ctx, rg, "VNet9", armnetwork.VirtualNetwork{Location: to.Ptr(loc),
		Properties: &armnetwork.VirtualNetworkPropertiesFormat{
			AddressSpace: &armnetwork.AddressSpace{AddressPrefixes: []*string{to.Ptr("10.9.0.0/16")}},
			Subnets: []*armnetwork.Subnet{{Name: to.Ptr("GatewaySubnet"),
				Properties: &armnetwork.SubnetPropertiesFormat{AddressPrefix: to.Ptr("10.9.255.0/27")}}}}}, nil)
	must("vnet", err)
	vnet, err := vp.PollUntilDone(ctx, poll)
	must("vnet", err)
	pp, err := f.NewPublicIPAddressesClient().BeginCreateOrUpdate(ctx, rg, "VNet9GWIP", armnetwork.PublicIPAddress{Location: to.Ptr(loc),
		SKU:        &armnetwork.PublicIPAddressSKU{Name: to.Ptr(armnetwork.PublicIPAddressSKUNameStandard)},
		Properties: &armnetwork.PublicIPAddressPropertiesFormat{PublicIPAllocationMethod: to.Ptr(armnetwork.IPAllocationMethodStatic)}}, nil)
	must("public IP", err)
	pip, err := pp.PollUntilDone(ctx, poll)
	must("public IP", err)
	gws := f.NewVirtualNetworkGatewaysClient()
	gp, err := gws.BeginCreateOrUpdate(ctx, rg, "VNet9GW", armnetwork.VirtualNetworkGateway{Location: to.Ptr(loc),
		Properties: &armnetwork.VirtualNetworkGatewayPropertiesFormat{
			GatewayType: to.Ptr(armnetwork.VirtualNetworkGatewayTypeVPN), VPNType: to.Ptr(armnetwork.VPNTypeRouteBased),
			SKU:       &armnetwork.VirtualNetworkGatewaySKU{Name: to.Ptr(armnetwork.VirtualNetworkGatewaySKUNameVPNGw1), Tier: to.Ptr(armnetwork.VirtualNetworkGatewaySKUTierVPNGw1)},
			EnableBgp: to.Ptr(true), BgpSettings: &armnetwork.BgpSettings{Asn: to.Ptr[int64](65515)},
			IPConfigurations: []*armnetwork.VirtualNetworkGatewayIPConfiguration{{Name: to.Ptr("default"),
				Properties: &armnetwork.VirtualNetworkGatewayIPConfigurationPropertiesFormat{
					Subnet: &armnetwork.SubResource{ID: vnet.Properties.Subnets[0].ID}, PublicIPAddress: &armnetwork.SubResource{ID: pip.ID}}}},
			VPNClientConfiguration: &armnetwork.VPNClientConfiguration{
				VPNClientAddressPool:   &armnetwork.AddressSpace{AddressPrefixes: []*string{to.Ptr("172.16.9.0/24")}},
				VPNClientProtocols:     []*armnetwork.VPNClientProtocol{to.Ptr(armnetwork.VPNClientProtocolIkeV2)},
				VPNAuthenticationTypes: []*armnetwork.VPNAuthenticationType{to.Ptr(armnetwork.VPNAuthenticationTypeRadius)},
				RadiusServerAddress:    to.Ptr("10.9.1.4"), RadiusServerSecret: to.Ptr("RadSecret9"),
			}}}, nil)
	must("gateway", err)
	_, err = gp.PollUntilDone(ctx, poll)
	must("gateway", err)

	set, err := gws.BeginSetVpnclientIPSecParameters(ctx, rg, "VNet9GW", armnetwork.VPNClientIPsecParameters{
		SaLifeTimeSeconds: to.Ptr[int32](3600), SaDataSizeKilobytes: to.Ptr[int32](102400),
		IPSecEncryption: to.Ptr(armnetwork.IPSecEncryptionGCMAES256), IPSecIntegrity: to.Ptr(armnetwork.IPSecIntegrityGCMAES256),
		IkeEncryption: to.Ptr(armnetwork.IkeEncryptionAES256), IkeIntegrity: to.Ptr(armnetwork.IkeIntegritySHA384),
		DhGroup: to.Ptr(armnetwork.DhGroupECP384), PfsGroup: to.Ptr(armnetwork.PfsGroupNone)}, nil)
	must("setvpnclientipsecparameters", err)
	if set.Done() {
		t.Fatal("setvpnclientipsecparameters finished with its first response: not a long-running operation")
	}
	got, err := set.PollUntilDone(ctx, poll)
	must("setvpnclientipsecparameters", err)
	if got.IkeIntegrity == nil || *got.IkeIntegrity != armnetwork.IkeIntegritySHA384 || *got.DhGroup != armnetwork.DhGroupECP384 {
		t.Fatalf("setvpnclientipsecparameters result: %+v", got.VPNClientIPsecParameters)
	}
	get, err := gws.BeginGetVpnclientIPSecParameters(ctx, rg, "VNet9GW", nil)
	must("getvpnclientipsecparameters", err)
	cur, err := get.PollUntilDone(ctx, poll)
	must("getvpnclientipsecparameters", err)
	if cur.IPSecEncryption == nil || *cur.IPSecEncryption != armnetwork.IPSecEncryptionGCMAES256 || *cur.SaLifeTimeSeconds != 3600 {
		t.Fatalf("getvpnclientipsecparameters result: %+v", cur.VPNClientIPsecParameters)
	}

	// Refused up front: no instances run with --provider none.
	_, err = gws.BeginGetBgpPeerStatus(ctx, rg, "VNet9GW", nil)
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusNotFound || re.ErrorCode != "InstancesNotAvailable" {
		t.Fatalf("getBgpPeerStatus with --provider none: %v", err)
	}
}

// sdkServer is `vpngw serve --provider none` over HTTPS with the Azure
// SDK signed in as its administrator.
type sdkServer struct {
	ctx   context.Context // ends with the test (2 minutes at most)
	copts azcore.ClientOptions
	admin identity.Credential
	cred  azcore.TokenCredential
	aopts *arm.ClientOptions
	sub   string
	poll  *runtime.PollUntilDoneOptions
}

func newSDKServer(t *testing.T) *sdkServer {
	t.Helper()
	data := t.TempDir()
	addr, _ := runNone(t, Options{DataDir: data})
	s := &sdkServer{copts: sdkCloud(t, "https://"+addr, CAFile(data)), admin: adminCredential(t, data),
		sub: resource.DefaultSubscription, poll: &runtime.PollUntilDoneOptions{Frequency: 100 * time.Millisecond}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	s.ctx = ctx
	cred, err := azidentity.NewClientSecretCredential(identity.Tenant, s.admin.ClientID, s.admin.ClientSecret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: s.copts, DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	s.cred, s.aopts = cred, &arm.ClientOptions{ClientOptions: s.copts}
	return s
}
