package portal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/vpngw/vpngw/internal/armerr"
	"github.com/vpngw/vpngw/internal/resource"
)

// The topology view draws the subscription as an SVG: virtual networks in
// the left column with their gateways (and the gateways' instances) beside
// them, sites (local network gateways) in the right column, and a line per
// connection, coloured by its connectionStatus: gateway to site for IPsec,
// gateway to gateway (an arc) for VNet-to-VNet. The page reloads the SVG
// from /portal/topology.svg every two seconds.

// Layout of the diagram, in SVG user units.
const (
	topoVNetX, topoVNetW = 16, 210
	topoGWX, topoGWW     = 246, 190
	topoSiteX, topoSiteW = 650, 210
	topoRowH, topoBoxH   = 120, 96
	topoSiteH            = 70
	topoWidth            = 876
	topoTop              = 40
)

// topoBox is a rectangle with a title and a second line.
type topoBox struct {
	// X, Y, W and H place the box.
	X, Y, W, H int
	// Title and Lines are its text, Lines below the title.
	Title string
	Lines []string
	// Class is its CSS class (state colouring).
	Class string
	// Href links the box to its page ("" for none).
	Href string
}

// topoInstance is a gateway instance: a circle in its gateway's box.
type topoInstance struct {
	// CX and CY centre the circle.
	CX, CY int
	// Label is drawn beside it; Class colours it (role and state).
	Label, Class string
	// Title is its tooltip.
	Title string
}

// topoLink is a connection: a path between two boxes.
type topoLink struct {
	// D is the SVG path.
	D string
	// Class colours it by status.
	Class string
	// Label (with LX, LY) names it; Title is its tooltip.
	Label, Title string
	LX, LY       int
	// Href links it to the connection's page.
	Href string
}

// topology is the laid-out diagram.
type topology struct {
	// W and H are the SVG's size.
	W, H int
	// VNets, Gateways and Sites are the boxes.
	VNets, Gateways, Sites []topoBox
	// Instances are the gateways' instances.
	Instances []topoInstance
	// Links are the connections.
	Links []topoLink
}

// statusClass is the CSS class of a connection or provisioning state.
func statusClass(s string) string {
	switch s {
	case "Connected", resource.ProvisioningSucceeded, "Ready":
		return "st-ok"
	case "Connecting", resource.ProvisioningUpdating, resource.ProvisioningDeleting, "Applying":
		return "st-busy"
	case "NotConnected", resource.ProvisioningFailed, "Silent":
		return "st-bad"
	}
	return "st-unknown"
}

// loadTopology reads the subscription's resources and lays them out.
func (p *Portal) loadTopology(ctx context.Context) (topology, error) {
	vnets, err := list[resource.VirtualNetwork](ctx, p, p.typePath("", resource.TypeVirtualNetworks))
	if err != nil {
		return topology{}, err
	}
	gws, err := list[resource.VirtualNetworkGateway](ctx, p, p.typePath("", resource.TypeVirtualNetworkGateways))
	if err != nil {
		return topology{}, err
	}
	sites, err := list[resource.LocalNetworkGateway](ctx, p, p.typePath("", resource.TypeLocalNetworkGateways))
	if err != nil {
		return topology{}, err
	}
	conns, err := list[resource.Connection](ctx, p, p.typePath("", resource.TypeConnections))
	if err != nil {
		return topology{}, err
	}
	t := topology{W: topoWidth}
	// anchor is where a connection attaches: the right edge of a gateway,
	// the left edge of a site; keyed by lower-case resource ID.
	type anchor struct{ x, y int }
	gwAt, siteAt := map[string]anchor{}, map[string]anchor{}
	for i, vn := range vnets {
		y := topoTop + i*topoRowH
		t.VNets = append(t.VNets, topoBox{X: topoVNetX, Y: y, W: topoVNetW, H: topoBoxH, Title: vn.Name,
			Lines: []string{strings.Join(vn.Properties.AddressSpace.AddressPrefixes, ", "), fmt.Sprintf("%d subnets", len(vn.Properties.Subnets))},
			Class: "vnet " + statusClass(vn.Properties.ProvisioningState), Href: Prefix + "rg/" + groupOf(vn.ID)})
		n := 0
		for _, gw := range gws {
			if !gatewayInVNet(gw, vn.ID) {
				continue
			}
			gy := y + n*(topoBoxH/2)
			n++
			b := topoBox{X: topoGWX, Y: gy, W: topoGWW, H: topoBoxH, Title: gw.Name,
				Lines: []string{gw.Properties.SKU.Name + " · " + gw.Properties.ProvisioningState},
				Class: "gw " + statusClass(gw.Properties.ProvisioningState), Href: Prefix + "rg/" + groupOf(gw.ID) + "/gateways/" + gw.Name}
			t.Gateways = append(t.Gateways, b)
			gwAt[strings.ToLower(gw.ID)] = anchor{topoGWX + topoGWW, gy + topoBoxH/2}
			t.Instances = append(t.Instances, p.topoInstances(ctx, gw, topoGWX+18, gy+62)...)
		}
	}
	for i, s := range sites {
		y := topoTop + i*(topoSiteH+20)
		addr := s.Properties.GatewayIPAddress
		if addr == "" {
			addr = s.Properties.Fqdn
		}
		t.Sites = append(t.Sites, topoBox{X: topoSiteX, Y: y, W: topoSiteW, H: topoSiteH, Title: s.Name,
			Lines: []string{addr, strings.Join(s.Properties.LocalNetworkAddressSpace.AddressPrefixes, ", ")},
			Class: "site " + statusClass(s.Properties.ProvisioningState), Href: Prefix + "rg/" + groupOf(s.ID)})
		siteAt[strings.ToLower(s.ID)] = anchor{topoSiteX, y + topoSiteH/2}
	}
	for i, c := range conns {
		pr := c.Properties
		if pr.VirtualNetworkGateway1 == nil {
			continue
		}
		a, ok := gwAt[strings.ToLower(pr.VirtualNetworkGateway1.ID)]
		if !ok {
			continue
		}
		status := pr.ConnectionStatus
		if status == "" {
			status = "Unknown"
		}
		l := topoLink{Class: "link " + statusClass(status), Label: c.Name,
			Title: fmt.Sprintf("%s: %s, in %s, out %s", c.Name, status, formatBytes(pr.IngressBytesTransferred), formatBytes(pr.EgressBytesTransferred)),
			Href:  Prefix + "rg/" + groupOf(c.ID) + "/connections/" + c.Name}
		switch {
		case pr.LocalNetworkGateway2 != nil:
			b, ok := siteAt[strings.ToLower(pr.LocalNetworkGateway2.ID)]
			if !ok {
				continue
			}
			l.D = fmt.Sprintf("M%d %d C%d %d %d %d %d %d", a.x, a.y, (a.x+b.x)/2, a.y, (a.x+b.x)/2, b.y, b.x, b.y)
			l.LX, l.LY = (a.x+b.x)/2, (a.y+b.y)/2-6
		case pr.VirtualNetworkGateway2 != nil:
			b, ok := gwAt[strings.ToLower(pr.VirtualNetworkGateway2.ID)]
			if !ok {
				continue
			}
			bulge := a.x + 90 + 30*(i%3)
			l.D = fmt.Sprintf("M%d %d C%d %d %d %d %d %d", a.x, a.y, bulge, a.y, bulge, b.y, b.x, b.y)
			l.LX, l.LY = bulge-20, (a.y+b.y)/2
		default:
			continue
		}
		t.Links = append(t.Links, l)
	}
	t.H = topoTop + max(len(vnets)*topoRowH, len(sites)*(topoSiteH+20), topoRowH) + 10
	return t, nil
}

// gatewayInVNet reports whether gw's ipConfigurations are in the VNet.
func gatewayInVNet(gw resource.VirtualNetworkGateway, vnetID string) bool {
	for _, ipc := range gw.Properties.IPConfigurations {
		if sn := ipc.Properties.Subnet; sn != nil && strings.HasPrefix(strings.ToLower(sn.ID), strings.ToLower(vnetID)+"/subnets/") {
			return true
		}
	}
	return false
}

// topoInstances are the instance circles of gw, from the instances view
// (none when the provider runs no instances).
func (p *Portal) topoInstances(ctx context.Context, gw resource.VirtualNetworkGateway, x, y int) []topoInstance {
	insts, err := list[struct {
		Name            string `json:"name"`
		Role            string `json:"role"`
		State           string `json:"state"`
		PublicIPAddress string `json:"publicIpAddress"`
	}](ctx, p, gw.ID+"/instances")
	var e *armerr.Error
	if err != nil && !errors.As(err, &e) {
		p.log.Warn("portal topology: instances", "gateway", gw.ID, "err", err)
	}
	var out []topoInstance
	for i, in := range insts {
		out = append(out, topoInstance{CX: x + i*90, CY: y, Label: in.Role,
			Class: "inst role-" + in.Role + " " + statusClass(in.State),
			Title: fmt.Sprintf("%s: %s, %s, %s", in.Name, in.Role, in.State, in.PublicIPAddress)})
	}
	return out
}

func (p *Portal) topology(r *http.Request) (view, error) {
	t, err := p.loadTopology(r.Context())
	if err != nil {
		return view{}, err
	}
	return view{tmpl: "topology.html", title: "Topology", data: t}, nil
}

// topologySVG serves the diagram alone, for the page's live refresh.
func (p *Portal) topologySVG(w http.ResponseWriter, r *http.Request) {
	t, err := p.loadTopology(r.Context())
	if err != nil {
		p.log.Warn("portal topology", "err", err)
		http.Error(w, "topology unavailable", http.StatusServiceUnavailable)
		return
	}
	var buf bytes.Buffer
	if err := p.pages["topology.html"].ExecuteTemplate(&buf, "svg", t); err != nil {
		p.log.Error("portal template", "template", "svg", "err", err)
		http.Error(w, "portal: rendering failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}
