package api

import (
	"fmt"
	"net/http"

	"github.com/vpngw/vpngw/internal/resource"
)

// Path prefixes of the route table.
const (
	subPath     = "/subscriptions/{" + paramSub + "}"
	groupPath   = subPath + "/resourcegroups/{" + paramGroup + "}"
	networkPath = "/providers/" + resource.Provider
)

// buildRoutes is the route table: every path and method the API serves.
// The router dispatches from it and openAPI describes it; nothing else
// registers handlers.
func (s *Server) buildRoutes() []*route {
	lro := func(status int, desc string, body *schemaRef) responseSpec {
		return responseSpec{status: status, desc: desc, body: body, lro: true}
	}
	ok := func(body *schemaRef) responseSpec { return responseSpec{status: http.StatusOK, desc: "OK", body: body} }
	deleted := []responseSpec{
		lro(http.StatusAccepted, "Accepted: the delete runs as a long-running operation.", nil),
		{status: http.StatusNoContent, desc: "The resource does not exist."},
	}

	rgID := func(r *request) (resource.ID, error) { return groupID(r) }
	routes := []*route{
		{
			pattern: subPath + "/resourcegroups", tag: "ResourceGroups",
			endpoints: []*endpoint{{
				method: http.MethodGet, operationID: "ResourceGroups_List", summary: "List the resource groups of a subscription.",
				handle: s.listGroups, responses: []responseSpec{ok(listOf[resource.ResourceGroup]())},
			}},
		},
		{
			pattern: groupPath, tag: "ResourceGroups",
			endpoints: []*endpoint{
				{
					method: http.MethodGet, operationID: "ResourceGroups_Get", summary: "Get a resource group.",
					handle: s.getGroup, responses: []responseSpec{ok(schemaOf[resource.ResourceGroup]())},
				},
				{
					method: http.MethodHead, operationID: "ResourceGroups_CheckExistence",
					summary: "Whether a resource group exists: 204 if it does, 404 if not (no body).",
					handle:  s.headGroup,
					responses: []responseSpec{
						{status: http.StatusNoContent, desc: "The resource group exists."},
						{status: http.StatusNotFound, desc: "The resource group does not exist."},
					},
				},
				{
					method: http.MethodPut, operationID: "ResourceGroups_CreateOrUpdate", summary: "Create or update a resource group (synchronous).",
					handle: s.putGroup, body: schemaOf[resource.ResourceGroup](), conditional: true,
					responses: []responseSpec{
						ok(schemaOf[resource.ResourceGroup]()),
						{status: http.StatusCreated, desc: "Created", body: schemaOf[resource.ResourceGroup]()},
					},
				},
				{
					method: http.MethodPatch, operationID: "ResourceGroups_Update", summary: "Replace a resource group's tags.",
					handle: s.patchTags(rgID), body: schemaOf[TagsObject](), conditional: true,
					responses: []responseSpec{ok(schemaOf[resource.ResourceGroup]())},
				},
				{
					method: http.MethodDelete, operationID: "ResourceGroups_Delete",
					summary: "Delete a resource group and every resource in it (connections, gateways, local network gateways, public IPs, then virtual networks).",
					handle:  s.deleteGroup, longRunning: true,
					responses: []responseSpec{lro(http.StatusAccepted, "Accepted: the delete runs as a long-running operation.", nil)},
				},
			},
		},
	}

	for _, k := range kinds {
		k := k
		item := groupPath + networkPath + "/" + k.typ + "/{" + k.param + "}"
		itemOf := func(r *request) (resource.ID, error) { return resourceID(r, k) }
		live := LeaderNotNeeded
		if k == connectionKind {
			live = LeaderPreferred
		}
		schema := &schemaRef{typ: objectType(k.typ)}
		list := &schemaRef{typ: objectType(k.typ), list: true}
		routes = append(routes,
			&route{
				pattern: subPath + networkPath + "/" + k.typ, tag: k.opPrefix,
				endpoints: []*endpoint{{
					method: http.MethodGet, operationID: k.opPrefix + "_ListAll", summary: "List the " + k.noun + "s of a subscription.",
					handle: s.listResources(k, false), responses: []responseSpec{ok(list)},
					leader: live, // a connection's connectionStatus
				}},
			},
			&route{
				pattern: groupPath + networkPath + "/" + k.typ, tag: k.opPrefix,
				endpoints: []*endpoint{{
					method: http.MethodGet, operationID: k.opPrefix + "_List", summary: "List the " + k.noun + "s of a resource group.",
					handle: s.listResources(k, true), responses: []responseSpec{ok(list)},
					leader: live,
				}},
			},
			&route{
				pattern: item, tag: k.opPrefix,
				endpoints: []*endpoint{
					{
						method: http.MethodGet, operationID: k.opPrefix + "_Get", summary: "Get a " + k.noun + ".",
						handle: s.getResource(k), responses: []responseSpec{ok(schema)},
						leader: live,
					},
					{
						method: http.MethodPut, operationID: k.opPrefix + "_CreateOrUpdate", summary: "Create or update a " + k.noun + ".",
						handle: s.putResource(k), body: schema, conditional: true, longRunning: true,
						responses: []responseSpec{
							lro(http.StatusOK, "Updated (or unchanged, then without operation headers).", schema),
							lro(http.StatusCreated, "Created.", schema),
						},
					},
					{
						method: http.MethodPatch, operationID: k.opPrefix + "_UpdateTags", summary: "Replace a " + k.noun + "'s tags (synchronous).",
						handle: s.patchTags(itemOf), body: schemaOf[TagsObject](), conditional: true,
						responses: []responseSpec{ok(schema)},
					},
					{
						method: http.MethodDelete, operationID: k.opPrefix + "_Delete", summary: "Delete a " + k.noun + ".",
						handle: s.deleteResource(k), conditional: true, longRunning: true, responses: deleted,
					},
				},
			},
		)
	}

	vnetItem := groupPath + networkPath + "/" + resource.TypeVirtualNetworks + "/{" + vnetKind.param + "}"
	gwItem := groupPath + networkPath + "/" + resource.TypeVirtualNetworkGateways + "/{" + gatewayKind.param + "}"
	str := &schemaRef{raw: map[string]any{"type": "string"}}
	// gwAction is a POST action on a gateway run as a long-running
	// operation (answerAction): 202, and the result, of schema result (nil:
	// none), at the operation's Location URL, as in Azure's spec.
	gwAction := func(action, opID, summary string, handle func(http.ResponseWriter, *request) error, body, result *schemaRef) *route {
		// Every such action but setvpnclientipsecparameters (an update run
		// by the operation workers) reads the agents' reports.
		need := LeaderRequired
		if action == "setvpnclientipsecparameters" {
			need = LeaderNotNeeded
		}
		return &route{pattern: gwItem + "/" + action, tag: "VirtualNetworkGateways", endpoints: []*endpoint{{
			method: http.MethodPost, operationID: opID, summary: summary, handle: handle, body: body, longRunning: true,
			leader: need,
			responses: []responseSpec{
				{status: http.StatusOK, desc: "The operation's result (what its Location URL answers).", body: result},
				lro(http.StatusAccepted, "Accepted: a long-running operation; its Location URL answers the result.", nil),
			}}}}
	}
	connItem := groupPath + networkPath + "/" + resource.TypeConnections + "/{" + connectionKind.param + "}"
	opsPath := subPath + networkPath + "/locations/{" + paramLocation + "}"
	subnet := schemaOf[resource.Subnet]()
	sharedKey := schemaOf[ConnectionSharedKey]()
	resetKey := schemaOf[ConnectionResetSharedKey]()
	routes = append(routes,
		&route{
			pattern: vnetItem + "/subnets", tag: "Subnets",
			endpoints: []*endpoint{{
				method: http.MethodGet, operationID: "Subnets_List", summary: "List a virtual network's subnets.",
				handle: s.listSubnets, responses: []responseSpec{ok(listOf[resource.Subnet]())},
			}},
		},
		&route{
			pattern: vnetItem + "/subnets/{" + paramSubnet + "}", tag: "Subnets",
			endpoints: []*endpoint{
				{
					method: http.MethodGet, operationID: "Subnets_Get", summary: "Get a subnet.",
					handle: s.getSubnet, responses: []responseSpec{ok(subnet)},
				},
				{
					method: http.MethodPut, operationID: "Subnets_CreateOrUpdate", summary: "Create or update a subnet (an update of its virtual network).",
					handle: s.putSubnet, body: subnet, conditional: true, longRunning: true,
					responses: []responseSpec{lro(http.StatusOK, "Updated.", subnet), lro(http.StatusCreated, "Created.", subnet)},
				},
				{
					method: http.MethodDelete, operationID: "Subnets_Delete", summary: "Delete a subnet (refused while in use).",
					handle: s.deleteSubnet, conditional: true, longRunning: true, responses: deleted,
				},
			},
		},
		&route{
			pattern: connItem + "/sharedkey", tag: "VirtualNetworkGatewayConnections",
			endpoints: []*endpoint{
				{
					method: http.MethodGet, operationID: "VirtualNetworkGatewayConnections_GetSharedKey",
					summary: "Get a connection's shared key (the only response that contains it).",
					handle:  s.getSharedKey, responses: []responseSpec{ok(sharedKey)},
				},
				{
					method: http.MethodPut, operationID: "VirtualNetworkGatewayConnections_SetSharedKey", summary: "Set a connection's shared key.",
					handle: s.putSharedKey, body: sharedKey, longRunning: true,
					responses: []responseSpec{lro(http.StatusOK, "Accepted; the connection is updated by a long-running operation (no headers when the key is unchanged).", sharedKey)},
				},
			},
		},
		&route{
			pattern: connItem + "/sharedkey/reset", tag: "VirtualNetworkGatewayConnections",
			endpoints: []*endpoint{{
				method: http.MethodPost, operationID: "VirtualNetworkGatewayConnections_ResetSharedKey",
				summary: "Replace a connection's shared key with a new random key of keyLength characters.",
				handle:  s.resetSharedKey, body: resetKey, longRunning: true,
				responses: []responseSpec{lro(http.StatusAccepted, "Accepted.", resetKey)},
			}},
		},
		&route{
			pattern: connItem + "/resetconnection", tag: "VirtualNetworkGatewayConnections",
			endpoints: []*endpoint{{
				method: http.MethodPost, operationID: "VirtualNetworkGatewayConnections_ResetConnection",
				summary: "Reset a connection: every gateway instance running it deletes its SAs and negotiates them again; the gateway's other connections are not touched. The result is 204.",
				handle:  s.resetConnection, longRunning: true,
				responses: []responseSpec{lro(http.StatusAccepted, "Accepted.", nil)},
			}},
		},
		&route{
			pattern: connItem + "/vpndeviceconfigurationscript", tag: "VirtualNetworkGatewayConnections",
			endpoints: []*endpoint{{
				method: http.MethodPost, operationID: "VirtualNetworkGateways_VpnDeviceConfigurationScript",
				summary: "The configuration of an on-premises VPN device (vendor, deviceFamily, firmwareVersion from supportedvpndevices) for a site-to-site connection, as a string. It contains the shared key: read it like sharedkey.",
				handle:  s.vpnDeviceScript, body: schemaOf[VpnDeviceScriptParameters](),
				responses: []responseSpec{ok(&schemaRef{raw: map[string]any{"type": "string"}})},
			}},
		},
		&route{
			pattern: gwItem + "/supportedvpndevices", tag: "VirtualNetworkGateways",
			endpoints: []*endpoint{{
				method: http.MethodPost, operationID: "VirtualNetworkGateways_SupportedVpnDevices",
				summary:   "The VPN devices vpndeviceconfigurationscript can configure, as an XML document (RpVpnDeviceList) in a string.",
				handle:    s.supportedVpnDevices,
				responses: []responseSpec{ok(&schemaRef{raw: map[string]any{"type": "string"}})},
			}},
		},
		&route{
			pattern: gwItem + "/connections", tag: "VirtualNetworkGateways",
			endpoints: []*endpoint{{
				method: http.MethodGet, operationID: "VirtualNetworkGateways_ListConnections",
				summary: "List the connections that use a gateway.",
				handle:  s.listGatewayConnections, responses: []responseSpec{ok(listOf[resource.Connection]())},
				leader: LeaderPreferred,
			}},
		},
		&route{
			pattern: gwItem + "/instances", tag: "VirtualNetworkGateways",
			endpoints: []*endpoint{{
				method: http.MethodGet, operationID: "VirtualNetworkGateways_ListInstances",
				summary: "vpngw extension: list a gateway's instances (the agents that run it: IDs, roles, addresses, last reports; never keys). 404 InstancesNotAvailable with --provider none.",
				handle:  s.listGatewayInstances, responses: []responseSpec{ok(listOf[GatewayInstance]())},
				leader: LeaderRequired,
			}},
		},
		gwAction("generatevpnprofile", "VirtualNetworkGateways_GenerateVpnProfile",
			"Build the gateway's point-to-site client package (Generic/VpnSettings.xml, Generic/VpnServerRoot.cer, a strongSwan swanctl.conf, a NetworkManager keyfile); the operation's result is the URL it is served at for an hour, as a string. The body (VpnClientParameters) is optional; authenticationMethod EAPTLS or EAPMSCHAPv2 picks the client authentication.",
			s.generateVpnProfile, schemaOf[resource.VpnClientParameters](), str),
		gwAction("generatevpnclientpackage", "VirtualNetworkGateways_Generatevpnclientpackage", "The same as generatevpnprofile (Azure's older name).",
			s.generateVpnProfile, schemaOf[resource.VpnClientParameters](), str),
		gwAction("getvpnprofilepackageurl", "VirtualNetworkGateways_GetVpnProfilePackageUrl",
			"The URL of the gateway's latest client package (the one the last generatevpnprofile built, while its hour lasts), as the operation's result (a string); 404 VpnClientPackageNotFound when none was generated.",
			s.getVpnProfilePackageURL, nil, str),
		gwAction("getvpnclientconnectionhealth", "VirtualNetworkGateways_GetVpnclientConnectionHealth",
			"The connected point-to-site clients: session ID, user, public and private address, connection time and duration, bytes and packets both ways (from the instances' latest reports), as the operation's result.",
			s.getVpnClientConnectionHealth, nil, schemaOf[resource.VpnClientConnectionHealthDetailListResult]()),
		gwAction("disconnectvirtualnetworkgatewayvpnconnections", "VirtualNetworkGateways_DisconnectVirtualNetworkGatewayVpnConnections",
			"End point-to-site sessions by vpnConnectionId (from getvpnclientconnectionhealth): their IKE SAs are deleted and the clients told. Accepted once the gateway applied it (the result has no body); IDs of sessions already gone are ignored.",
			s.disconnectVpnConnections, schemaOf[resource.P2SVpnConnectionRequest](), nil),
		gwAction("setvpnclientipsecparameters", "VirtualNetworkGateways_SetVpnclientIpsecParameters",
			"Set the gateway's custom point-to-site IPsec/IKE policy (VpnClientIPsecParameters: all eight fields, Azure's values and rules): it becomes vpnClientIpsecPolicies[0] and replaces the default offer, so IKEv2 clients must propose exactly its suite. The gateway is updated as by a PUT (not on Basic); the operation's result, once the gateway applied it, is the policy.",
			s.setVpnClientIPsecParameters, schemaOf[resource.IpsecPolicy](), schemaOf[resource.IpsecPolicy]()),
		&route{pattern: gwItem + "/getvpnclientipsecparameters", tag: "VirtualNetworkGateways", endpoints: []*endpoint{{
			method: http.MethodPost, operationID: "VirtualNetworkGateways_GetVpnclientIpsecParameters",
			summary: "The gateway's custom point-to-site IPsec/IKE policy (VpnClientIPsecParameters); without one, vpngw answers {\"default\":true,\"value\":[...]} with Azure's default point-to-site suites (Azure answers an empty policy). Answered at once (200): Azure's spec gives this action only a 200 response.",
			handle:  s.getVpnClientIPsecParameters, responses: []responseSpec{ok(schemaOf[resource.IpsecPolicy]())}}}},
		&route{
			pattern: "/vpnclientpackages/{" + paramPackage + "}", tag: "VirtualNetworkGateways",
			endpoints: []*endpoint{{
				method: http.MethodGet, operationID: "VpnClientPackages_Get",
				summary: "vpngw: a client package generatevpnprofile built (application/zip); the URL is the capability and lasts an hour.",
				handle:  s.getVpnClientPackage, noAPIVersion: true,
				responses: []responseSpec{{status: http.StatusOK, desc: "The zip.", body: &schemaRef{raw: map[string]any{"type": "string", "format": "binary"}}}},
			}},
		},
		gwAction("getBgpPeerStatus", "VirtualNetworkGateways_GetBgpPeerStatus",
			"The BGP peers of the gateway's instances (query peer: one peer), from the instances' latest reports, as the operation's result.",
			s.getBgpPeerStatus, nil, listOf[BgpPeerStatus]()),
		gwAction("getLearnedRoutes", "VirtualNetworkGateways_GetLearnedRoutes",
			"The routes in the gateway instances' BGP tables: their own prefixes (origin Network) and every path learned from a peer, as the operation's result.",
			s.getLearnedRoutes, nil, listOf[GatewayRoute]()),
		gwAction("getAdvertisedRoutes", "VirtualNetworkGateways_GetAdvertisedRoutes",
			"The routes the gateway's instances advertise to the BGP peer given by query peer (required), as the operation's result.",
			s.getAdvertisedRoutes, nil, listOf[GatewayRoute]()),
		&route{
			pattern: gwItem + "/reset", tag: "VirtualNetworkGateways",
			endpoints: []*endpoint{{
				method: http.MethodPost, operationID: "VirtualNetworkGateways_Reset",
				summary: "Reset a gateway (query gatewayVip: one active-active instance).",
				handle:  s.resetGateway, longRunning: true,
				responses: []responseSpec{lro(http.StatusAccepted, "Accepted; the result is the gateway.", nil)},
			}},
		},
		&route{
			pattern: opsPath + "/operations/{" + paramOp + "}", tag: "Operations",
			endpoints: []*endpoint{{
				method: http.MethodGet, operationID: "Operations_GetStatus",
				summary: "Status of a long-running operation (the Azure-AsyncOperation URL).",
				handle:  s.getOperationStatus, responses: []responseSpec{ok(schemaOf[OperationStatus]())},
			}},
		},
		&route{
			pattern: opsPath + "/operationResults/{" + paramOp + "}", tag: "Operations",
			endpoints: []*endpoint{{
				method: http.MethodGet, operationID: "Operations_GetResult",
				summary: "Result of a long-running operation (the Location URL): 202 while running, then the resource or an action's result (200), nothing (204; 200 without a body for an action without a result) or the operation's error.",
				handle:  s.getOperationResult,
				responses: []responseSpec{
					{status: http.StatusOK, desc: "Succeeded: the resulting resource."},
					{status: http.StatusAccepted, desc: "Still running.", location: true},
					{status: http.StatusNoContent, desc: "Succeeded (delete)."},
				},
			}},
		},
		&route{
			pattern: "/metadata/endpoints", tag: "Meta",
			endpoints: []*endpoint{{
				method: http.MethodGet, operationID: "Metadata_GetEndpoints",
				summary: "The cloud's endpoints in Azure Stack's shape, for az cloud register --endpoint-resource-manager (any api-version; az sends 2015-01-01). URLs are this server's.",
				handle:  s.getCloudMetadata, noAPIVersion: true, responses: []responseSpec{ok(schemaOf[CloudMetadata]())},
			}},
		},
		&route{
			pattern: "/subscriptions", tag: "Subscriptions",
			endpoints: []*endpoint{{
				method: http.MethodGet, operationID: "Subscriptions_List",
				summary: "The subscriptions: the default one and every one holding a resource group (any api-version).",
				handle:  s.listSubscriptions, noAPIVersion: true, responses: []responseSpec{ok(listOf[Subscription]())},
			}},
		},
		&route{
			pattern: subPath, tag: "Subscriptions",
			endpoints: []*endpoint{{
				method: http.MethodGet, operationID: "Subscriptions_Get",
				summary: "A subscription (every well-formed ID is served; any api-version).",
				handle:  s.getSubscription, noAPIVersion: true, responses: []responseSpec{ok(schemaOf[Subscription]())},
			}},
		},
		&route{
			pattern: "/tenants", tag: "Subscriptions",
			endpoints: []*endpoint{{
				method: http.MethodGet, operationID: "Tenants_List", summary: "The one tenant (any api-version).",
				handle: s.listTenants, noAPIVersion: true, responses: []responseSpec{ok(listOf[Tenant]())},
			}},
		},
		&route{
			pattern: subPath + resource.ActivityLogPath(""), tag: "ActivityLogs",
			endpoints: []*endpoint{{
				method: http.MethodGet, operationID: "ActivityLogs_List", minAPIVersion: ActivityLogAPIVersion,
				summary: "The activity log: the last " + fmt.Sprint(activityRingSize) + " long-running operations and refused writes of the subscription, newest first, each with its caller, status and ARM error. $filter: eventTimestamp ge|le 'TIME', resourceGroupName eq 'NAME', resourceUri eq 'ID', joined by 'and'.",
				handle:  s.getActivityLog, responses: []responseSpec{ok(listOf[EventData]())},
			}},
		},
		&route{
			pattern: "/openapi.json", tag: "Meta",
			endpoints: []*endpoint{{
				method: http.MethodGet, operationID: "OpenAPI_Get", summary: "This OpenAPI 3.0 document.",
				handle: s.getOpenAPI, noAPIVersion: true,
				responses: []responseSpec{{status: http.StatusOK, desc: "OK", body: &schemaRef{raw: map[string]any{"type": "object"}}}},
			}},
		},
	)
	return routes
}
