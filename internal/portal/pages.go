package portal

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/vpngw/vpngw/internal/armerr"
	"github.com/vpngw/vpngw/internal/resource"
)

// pageData is what the layout template gets.
type pageData struct {
	// Title is the page's title and heading.
	Title string
	// APIVersion is the api-version the script sends.
	APIVersion string
	// Group is the resource group the page belongs to ("" for none).
	Group string
	// ActivityPath is the subscription's activity log, which the page's
	// activity panel polls.
	ActivityPath string
	// Page is the page's own data.
	Page any
}

// view is one rendered page: its template, title, group and data.
type view struct {
	// tmpl is the page's template file name.
	tmpl string
	// title is the page title.
	title string
	// group is the resource group of the page, if any.
	group string
	// data is the page's own data (pageData.Page).
	data any
}

// page adapts a page builder to an http.HandlerFunc: it renders the view or
// the error (an API error keeps its status and message).
func (p *Portal) page(build func(r *http.Request) (view, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := build(r)
		status := http.StatusOK
		if err != nil {
			status = http.StatusInternalServerError
			msg := "The portal could not read the API; the server log has the details."
			var e *armerr.Error
			if errors.As(err, &e) {
				status, msg = e.HTTPStatus(), e.Code+": "+e.Message
			} else {
				p.log.Error("portal page", "path", r.URL.Path, "err", err)
			}
			v = view{tmpl: "error.html", title: "Error", data: msg}
		}
		p.render(w, status, v)
	}
}

func (p *Portal) render(w http.ResponseWriter, status int, v view) {
	t := p.pages[v.tmpl]
	var buf bytes.Buffer
	if err := t.Execute(&buf, pageData{Title: v.title, APIVersion: p.apiVersion, Group: v.group, Page: v.data,
		ActivityPath: resource.ActivityLogPath(p.sub) + "?api-version=" + resource.ActivityLogAPIVersion}); err != nil {
		p.log.Error("portal template", "template", v.tmpl, "err", err)
		http.Error(w, "portal: rendering failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// homePage lists the resource groups.
type homePage struct {
	// SubPath is the subscription's ARM path (forms build group paths on it).
	SubPath string
	// Groups are the subscription's resource groups.
	Groups []resource.ResourceGroup
}

func (p *Portal) home(r *http.Request) (view, error) {
	groups, err := list[resource.ResourceGroup](r.Context(), p, p.subPath()+"/resourcegroups")
	if err != nil {
		return view{}, err
	}
	return view{tmpl: "home.html", title: "Resource groups", data: homePage{SubPath: p.subPath(), Groups: groups}}, nil
}

// groupResources are a resource group's resources, by type.
type groupResources struct {
	// Name is the group's name; Base its ARM path.
	Name, Base string
	// Location is the group's location (the forms' default).
	Location string
	// VNets, PublicIPs, Gateways, Locals and Connections are the group's
	// resources of each type.
	VNets       []resource.VirtualNetwork
	PublicIPs   []resource.PublicIPAddress
	Gateways    []resource.VirtualNetworkGateway
	Locals      []resource.LocalNetworkGateway
	Connections []resource.Connection
}

// loadGroup reads the group and all its resources.
func (p *Portal) loadGroup(ctx context.Context, name string) (*groupResources, error) {
	var rg resource.ResourceGroup
	if err := p.get(ctx, p.groupPath(name), &rg); err != nil {
		return nil, err
	}
	g := &groupResources{Name: rg.Name, Base: p.groupPath(rg.Name), Location: rg.Location}
	var err error
	if g.VNets, err = list[resource.VirtualNetwork](ctx, p, p.typePath(rg.Name, resource.TypeVirtualNetworks)); err != nil {
		return nil, err
	}
	if g.PublicIPs, err = list[resource.PublicIPAddress](ctx, p, p.typePath(rg.Name, resource.TypePublicIPAddresses)); err != nil {
		return nil, err
	}
	if g.Gateways, err = list[resource.VirtualNetworkGateway](ctx, p, p.typePath(rg.Name, resource.TypeVirtualNetworkGateways)); err != nil {
		return nil, err
	}
	if g.Locals, err = list[resource.LocalNetworkGateway](ctx, p, p.typePath(rg.Name, resource.TypeLocalNetworkGateways)); err != nil {
		return nil, err
	}
	if g.Connections, err = list[resource.Connection](ctx, p, p.typePath(rg.Name, resource.TypeConnections)); err != nil {
		return nil, err
	}
	return g, nil
}

func (p *Portal) group(r *http.Request) (view, error) {
	g, err := p.loadGroup(r.Context(), r.PathValue("group"))
	if err != nil {
		return view{}, err
	}
	return view{tmpl: "group.html", title: "Resource group " + g.Name, group: g.Name, data: g}, nil
}

// skuRow is one row of the SKU table beside the gateway form.
type skuRow struct {
	// Name is the SKU name.
	Name string
	// Generations are the generations it exists in.
	Generations []string
	// Tunnels is its S2S/VNet-to-VNet connection limit (RouteBased).
	Tunnels int
	// Throughput is the aggregate throughput per generation, formatted.
	Throughput string
	// ActiveActive and BGP report whether the SKU offers them.
	ActiveActive, BGP bool
}

// vpnSKUs is the VPN part of the SKU table, without the retired SKUs.
func vpnSKUs() []skuRow {
	var rows []skuRow
	for _, s := range resource.SKUs() {
		if s.GatewayType != resource.GatewayTypeVpn || resource.RetiredVpnSKU(s.Name) {
			continue
		}
		var tput []string
		for _, g := range s.Generations {
			tput = append(tput, strings.TrimPrefix(g, "Generation")+": "+formatBitRate(s.ThroughputFor(g)))
		}
		rows = append(rows, skuRow{Name: s.Name, Generations: s.Generations, Tunnels: s.S2STunnels,
			Throughput: strings.Join(tput, ", "), ActiveActive: s.ActiveActive, BGP: s.BGP})
	}
	return rows
}

// option is one <option> of a select.
type option struct {
	// Value is the submitted value (a resource ID); Label what is shown.
	Value, Label string
	// Selected preselects it.
	Selected bool
}

// newGatewayPage is the create-gateway form.
type newGatewayPage struct {
	*groupResources
	// SKUs is the SKU table.
	SKUs []skuRow
	// Subnets are the group's subnets (GatewaySubnet preselected).
	Subnets []option
	// FreeIPs are the public IPs not used by a gateway.
	FreeIPs []option
}

func (p *Portal) newGateway(r *http.Request) (view, error) {
	g, err := p.loadGroup(r.Context(), r.PathValue("group"))
	if err != nil {
		return view{}, err
	}
	pg := newGatewayPage{groupResources: g, SKUs: vpnSKUs()}
	selected := false
	for _, vn := range g.VNets {
		for _, sn := range vn.Properties.Subnets {
			sel := !selected && sn.Name == resource.GatewaySubnetName
			selected = selected || sel
			pg.Subnets = append(pg.Subnets, option{Value: sn.ID, Label: vn.Name + " / " + sn.Name, Selected: sel})
		}
	}
	for _, ip := range g.PublicIPs {
		if ip.Properties.IPConfiguration != nil {
			continue
		}
		pg.FreeIPs = append(pg.FreeIPs, option{Value: ip.ID, Label: ip.Name + " (" + ip.SKU.Name + ")"})
	}
	return view{tmpl: "gateway-new.html", title: "Create virtual network gateway", group: g.Name, data: pg}, nil
}

// instanceView is one gateway instance on the overview.
type instanceView struct {
	// Name, Role, State, PublicIP, PrivateIP and Error are the instance's
	// as the instances view lists them.
	Name, Role, State, PublicIP, PrivateIP, Error string
}

// gatewayPage is the gateway overview.
type gatewayPage struct {
	// Group and Base are the group's name and ARM path; Path the gateway's.
	Group, Base, Path string
	// GW is the gateway.
	GW resource.VirtualNetworkGateway
	// PublicIPs are the addresses of its ipConfigurations, in order.
	PublicIPs []string
	// Instances are its instances; InstancesNote explains an empty list.
	Instances     []instanceView
	InstancesNote string
	// Connections are the connections that use it.
	Connections []resource.Connection
	// TunnelsUsed of TunnelsAllowed is the SKU usage.
	TunnelsUsed, TunnelsAllowed int
	// ThroughputCap is the SKU's aggregate throughput in bit/s.
	ThroughputCap int64
}

func (p *Portal) gateway(r *http.Request) (view, error) {
	ctx := r.Context()
	group, name := r.PathValue("group"), r.PathValue("name")
	path := p.itemPath(group, resource.TypeVirtualNetworkGateways, name)
	pg := gatewayPage{Group: group, Base: p.groupPath(group), Path: path}
	if err := p.get(ctx, path, &pg.GW); err != nil {
		return view{}, err
	}
	for _, ipc := range pg.GW.Properties.IPConfigurations {
		addr := "—"
		if ipc.Properties.PublicIPAddress != nil {
			var ip resource.PublicIPAddress
			if err := p.get(ctx, ipc.Properties.PublicIPAddress.ID, &ip); err == nil {
				addr = ip.Name + " " + ip.Properties.IPAddress
			}
		}
		pg.PublicIPs = append(pg.PublicIPs, addr)
	}
	insts, err := list[struct {
		Name             string `json:"name"`
		Role             string `json:"role"`
		State            string `json:"state"`
		PublicIPAddress  string `json:"publicIpAddress"`
		PrivateIPAddress string `json:"privateIpAddress"`
		Error            string `json:"error"`
	}](ctx, p, path+"/instances")
	var e *armerr.Error
	switch {
	case errors.As(err, &e):
		pg.InstancesNote = e.Message
	case err != nil:
		return view{}, err
	}
	for _, in := range insts {
		pg.Instances = append(pg.Instances, instanceView{Name: in.Name, Role: in.Role, State: in.State,
			PublicIP: in.PublicIPAddress, PrivateIP: in.PrivateIPAddress, Error: in.Error})
	}
	if pg.Connections, err = list[resource.Connection](ctx, p, path+"/connections"); err != nil {
		return view{}, err
	}
	for _, c := range pg.Connections {
		if c.Properties.VirtualNetworkGateway1 != nil && strings.EqualFold(c.Properties.VirtualNetworkGateway1.ID, pg.GW.ID) {
			pg.TunnelsUsed++
		}
	}
	if sku, ok := resource.LookupSKU(pg.GW.Properties.SKU.Name); ok {
		pg.TunnelsAllowed = sku.MaxS2STunnels(pg.GW.Properties.VpnType)
		pg.ThroughputCap = sku.ThroughputFor(pg.GW.Properties.VpnGatewayGeneration)
	}
	return view{tmpl: "gateway.html", title: "Virtual network gateway " + pg.GW.Name, group: group, data: pg}, nil
}

// connectionsPage lists a group's connections and has the create form.
type connectionsPage struct {
	*groupResources
}

func (p *Portal) connections(r *http.Request) (view, error) {
	g, err := p.loadGroup(r.Context(), r.PathValue("group"))
	if err != nil {
		return view{}, err
	}
	return view{tmpl: "connections.html", title: "Connections in " + g.Name, group: g.Name, data: connectionsPage{g}}, nil
}

// policyField is one enum field of the IPsec policy editor.
type policyField struct {
	// JSON is the field's JSON name; Label its label.
	JSON, Label string
	// Options are the allowed values, the current one selected.
	Options []option
}

// suggestedPolicy is what the IPsec policy editor starts from on a
// connection without a custom policy: a strong policy every SKU with custom
// policies accepts, not the first value of each list (DES, MD5), with
// Azure's default SA lifetimes (27000 s, 102400000 KB).
func suggestedPolicy() resource.IpsecPolicy {
	return resource.IpsecPolicy{
		IkeEncryption: "AES256", IkeIntegrity: "SHA256", DhGroup: "DHGroup14",
		IpsecEncryption: "GCMAES256", IpsecIntegrity: "GCMAES256", PfsGroup: "None",
		SaLifeTimeSeconds: 27000, SaDataSizeKilobytes: 102400000,
	}
}

// connectionPage is the connection detail.
type connectionPage struct {
	// Group is the group's name; Path the connection's ARM path.
	Group, Path string
	// Conn is the connection (without its shared key).
	Conn resource.Connection
	// Policy is its custom IPsec policy, or suggestedPolicy().
	Policy resource.IpsecPolicy
	// HasPolicy reports a custom policy.
	HasPolicy bool
	// PolicyFields are the editor's enum fields.
	PolicyFields []policyField
	// Modes are the connection modes.
	Modes []option
}

func (p *Portal) connection(r *http.Request) (view, error) {
	group, name := r.PathValue("group"), r.PathValue("name")
	pg := connectionPage{Group: group, Path: p.itemPath(group, resource.TypeConnections, name)}
	if err := p.get(r.Context(), pg.Path, &pg.Conn); err != nil {
		return view{}, err
	}
	pg.Policy = suggestedPolicy()
	if len(pg.Conn.Properties.IpsecPolicies) > 0 {
		pg.Policy, pg.HasPolicy = pg.Conn.Properties.IpsecPolicies[0], true
	}
	cur := map[string]string{
		"ikeEncryption": pg.Policy.IkeEncryption, "ikeIntegrity": pg.Policy.IkeIntegrity, "dhGroup": pg.Policy.DhGroup,
		"ipsecEncryption": pg.Policy.IpsecEncryption, "ipsecIntegrity": pg.Policy.IpsecIntegrity, "pfsGroup": pg.Policy.PfsGroup,
	}
	for _, f := range []struct{ json, label string }{
		{"ikeEncryption", "IKE encryption"}, {"ikeIntegrity", "IKE integrity"}, {"dhGroup", "DH group"},
		{"ipsecEncryption", "IPsec encryption"}, {"ipsecIntegrity", "IPsec integrity"}, {"pfsGroup", "PFS group"},
	} {
		pf := policyField{JSON: f.json, Label: f.label}
		for _, v := range resource.IpsecPolicyValues(f.json) {
			pf.Options = append(pf.Options, option{Value: v, Label: v, Selected: v == cur[f.json]})
		}
		pg.PolicyFields = append(pg.PolicyFields, pf)
	}
	for _, m := range []string{resource.ConnectionModeDefault, resource.ConnectionModeInitiatorOnly, resource.ConnectionModeResponderOnly} {
		pg.Modes = append(pg.Modes, option{Value: m, Label: m, Selected: m == pg.Conn.Properties.ConnectionMode})
	}
	if !slices.ContainsFunc(pg.Modes, func(o option) bool { return o.Selected }) {
		pg.Modes[0].Selected = true
	}
	return view{tmpl: "connection.html", title: "Connection " + pg.Conn.Name, group: group, data: pg}, nil
}
