package api

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"strings"

	"github.com/vpngw/vpngw/internal/armerr"
	"github.com/vpngw/vpngw/internal/netx"
	"github.com/vpngw/vpngw/internal/resource"
	"github.com/vpngw/vpngw/internal/vpndevice"
)

// VpnDeviceScriptParameters is the body of
// connections/{name}/vpndeviceconfigurationscript: a device from the
// gateway's supportedvpndevices list.
type VpnDeviceScriptParameters struct {
	// Vendor is the device's vendor, e.g. "strongSwan".
	Vendor string `json:"vendor"`
	// DeviceFamily is the device family, e.g. "swanctl.conf".
	DeviceFamily string `json:"deviceFamily"`
	// FirmwareVersion is the firmware version, e.g. "5.9 and later".
	FirmwareVersion string `json:"firmwareVersion"`
}

// supportedVpnDevices serves POST virtualNetworkGateways/{name}/supportedvpndevices:
// the device list as an XML document in a JSON string, as Azure answers.
func (s *Server) supportedVpnDevices(w http.ResponseWriter, r *request) error {
	ctx := r.Context()
	id, err := resourceID(r, gatewayKind)
	if err != nil {
		return err
	}
	if _, err := s.loadGateway(ctx, id); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, vpndevice.SupportedDevicesXML())
	return nil
}

// vpnDeviceScript serves POST connections/{name}/vpndeviceconfigurationscript:
// the configuration of the chosen device for the connection, as a JSON
// string. The script holds the shared key: the endpoint is read like
// sharedkey, and neither body is logged.
func (s *Server) vpnDeviceScript(w http.ResponseWriter, r *request) error {
	ctx := r.Context()
	_, _, c, err := s.loadConnection(ctx, r)
	if err != nil {
		return err
	}
	var in VpnDeviceScriptParameters
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	dev, err := vpndevice.Lookup(in.Vendor, in.DeviceFamily, in.FirmwareVersion)
	if err != nil {
		return deviceError(err)
	}
	p, err := s.deviceParams(ctx, c)
	if err != nil {
		return err
	}
	script, err := vpndevice.Generate(dev, p)
	if err != nil {
		return deviceError(err)
	}
	writeJSON(w, http.StatusOK, script)
	return nil
}

// deviceError turns a vpndevice error into the ARM error naming the field.
func deviceError(err error) error {
	var le *vpndevice.LookupError
	if errors.As(err, &le) {
		return errorf(http.StatusBadRequest, armerr.CodeInvalidParameter, le.Field, "%s", le.Message)
	}
	return errorf(http.StatusBadRequest, armerr.CodeInvalidParameter, "", "The configuration cannot be generated: %v.", err)
}

// loadGateway loads a gateway (404 when absent).
func (s *Server) loadGateway(ctx context.Context, id resource.ID) (*resource.VirtualNetworkGateway, error) {
	obj, err := s.view.Get(ctx, id)
	if errors.Is(err, resource.ErrNotFound) {
		return nil, s.notFoundIn(ctx, id)
	}
	if err != nil {
		return nil, err
	}
	gw, ok := obj.(*resource.VirtualNetworkGateway)
	if !ok {
		return nil, internalf("%s is a %T", id, obj)
	}
	return gw, nil
}

// deviceParams collects what the device must know of connection c: the
// gateway's addresses and VNet, the site, the policy and the key.
func (s *Server) deviceParams(ctx context.Context, c *resource.Connection) (vpndevice.Params, error) {
	pr := c.Properties
	unavailable := func(format string, args ...any) error {
		return errorf(http.StatusBadRequest, armerr.CodeInvalidParameter, "", format, args...)
	}
	if pr.ConnectionType != resource.ConnectionTypeIPsec || pr.LocalNetworkGateway2 == nil {
		return vpndevice.Params{}, unavailable("A device configuration script exists only for site-to-site (IPsec) connections; '%s' is %s.", c.Name, pr.ConnectionType)
	}
	p := vpndevice.Params{
		Connection:           c.Name,
		IKEv1:                pr.ConnectionProtocol == resource.ProtocolIKEv1,
		PolicyBasedSelectors: pr.UsePolicyBasedTrafficSelectors,
		DPDTimeoutSeconds:    pr.DpdTimeoutSeconds,
		ConnectionMode:       pr.ConnectionMode,
		SharedKey:            c.SharedKeyValue(),
	}
	if len(pr.IpsecPolicies) > 0 {
		pol := pr.IpsecPolicies[0]
		p.Policy = &pol
	}
	gid, err := resource.ParseID(pr.VirtualNetworkGateway1.ID, "properties.virtualNetworkGateway1.id")
	if err != nil {
		return p, err
	}
	gw, err := s.loadGateway(ctx, gid)
	if err != nil {
		return p, err
	}
	p.PolicyBased = strings.EqualFold(gw.Properties.VpnType, resource.VpnTypePolicyBased)
	pips, err := gatewayPublicIPs(ctx, s.view, gw)
	if err != nil {
		return p, err
	}
	for _, pip := range pips {
		if a, err := netip.ParseAddr(pip.Properties.IPAddress); err == nil {
			p.GatewayAddrs = append(p.GatewayAddrs, a)
		}
	}
	if !gw.Properties.ActiveActive && len(p.GatewayAddrs) > 1 {
		p.GatewayAddrs = p.GatewayAddrs[:1]
	}
	_, vnet, _, ok := resource.GatewayVNet(gw, func(id resource.ID) *resource.VirtualNetwork {
		obj, err := s.view.Get(ctx, id)
		if err != nil {
			return nil
		}
		v, _ := obj.(*resource.VirtualNetwork)
		return v
	})
	if !ok {
		return p, unavailable("The gateway '%s' has no GatewaySubnet.", gw.Name)
	}
	p.AzurePrefixes = netx.ParsePrefixes(vnet.Properties.AddressSpace.AddressPrefixes)
	lid, err := resource.ParseID(pr.LocalNetworkGateway2.ID, "properties.localNetworkGateway2.id")
	if err != nil {
		return p, err
	}
	lobj, err := s.view.Get(ctx, lid)
	if err != nil {
		return p, unavailable("The local network gateway '%s' cannot be read.", lid)
	}
	lng := lobj.(*resource.LocalNetworkGateway)
	p.SitePrefixes = netx.ParsePrefixes(lng.Properties.LocalNetworkAddressSpace.AddressPrefixes)
	if a, err := netip.ParseAddr(lng.Properties.GatewayIPAddress); err == nil {
		p.DeviceAddr = a
	} else {
		p.DeviceFQDN = lng.Properties.Fqdn
	}
	if pr.EnableBgp && gw.Properties.BgpSettings != nil && lng.Properties.BgpSettings != nil {
		gb, lb := gw.Properties.BgpSettings, lng.Properties.BgpSettings
		p.BGP = &vpndevice.BGP{GatewayASN: gb.ASN, DeviceASN: lb.ASN}
		p.BGP.DevicePeer, _ = netip.ParseAddr(lb.BgpPeeringAddress)
		for _, s := range strings.Split(gb.BgpPeeringAddress, ",") {
			if a, err := netip.ParseAddr(strings.TrimSpace(s)); err == nil {
				p.BGP.GatewayPeers = append(p.BGP.GatewayPeers, a)
			}
		}
	}
	if len(p.GatewayAddrs) == 0 || len(p.AzurePrefixes) == 0 || len(p.SitePrefixes) == 0 {
		return p, unavailable("The connection '%s' is not complete yet: it needs the gateway's public IP address and address prefixes on both sides.", c.Name)
	}
	return p, nil
}
