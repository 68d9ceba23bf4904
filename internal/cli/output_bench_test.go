package cli

import (
	"fmt"
	"io"
	"testing"
)

// BenchmarkShowList: decoding, shaping and printing 100 connections as
// `vpngw network vpn-connection list -o json` does.
func BenchmarkShowList(b *testing.B) {
	items := make([][]byte, 100)
	for i := range items {
		items[i] = fmt.Appendf(nil, `{"id":"/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/RG/providers/Microsoft.Network/connections/conn%[1]d","name":"conn%[1]d","type":"Microsoft.Network/connections","location":"eastus","etag":"W/\"64b383d6-0487-4086-86ab-5248284c0a0f\"","properties":{"virtualNetworkGateway1":{"id":"/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/RG/providers/Microsoft.Network/virtualNetworkGateways/GW"},"localNetworkGateway2":{"id":"/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/RG/providers/Microsoft.Network/localNetworkGateways/site%[1]d"},"connectionType":"IPsec","connectionProtocol":"IKEv2","routingWeight":0,"dpdTimeoutSeconds":45,"connectionMode":"Default","enableBgp":false,"useLocalAzureIpAddress":false,"usePolicyBasedTrafficSelectors":false,"ipsecPolicies":[],"trafficSelectorPolicies":[],"expressRouteGatewayBypass":false,"connectionStatus":"Connected","tunnelConnectionStatus":[{"tunnel":"ScaleGW_IN_0","connectionStatus":"Connected","ingressBytesTransferred":123456,"egressBytesTransferred":654321,"lastConnectionEstablishedUtcTime":"2026-12-03T11:00:00Z"}],"ingressBytesTransferred":123456,"egressBytesTransferred":654321,"resourceGuid":"b3d6aaae-6428-4647-af4e-586508475a61","provisioningState":"Succeeded"}}`, i)
	}
	x := &invocation{out: printer{w: io.Discard, format: "json"}, flatten: true}
	b.ReportAllocs()
	for b.Loop() {
		if err := x.showList(items, nil); err != nil {
			b.Fatal(err)
		}
	}
}
