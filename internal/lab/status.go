package lab

import (
	"net/netip"
	"slices"
)

// Status is the lab's topology as recorded, with whether each namespace
// exists and each process runs.
type Status struct {
	// Prefix is the lab's namespace prefix; StateDir its state directory.
	Prefix   string `json:"prefix"`
	StateDir string `json:"stateDir"`
	// Internet is the internet router, nil if the lab has none.
	Internet *InternetStatus `json:"internet,omitempty"`
	// VNets, Gateways, VMs and Sites are ordered by ID or name.
	VNets    []VNetStatus    `json:"vnets"`
	Gateways []GatewayStatus `json:"gateways"`
	VMs      []VMStatus      `json:"vms"`
	Sites    []SiteStatus    `json:"sites"`
	// Clients are the point-to-site clients, ordered by name.
	Clients []ClientStatus `json:"clients"`
	// Processes are the recorded processes.
	Processes []ProcessStatus `json:"processes"`
	// StrayNamespaces carry the lab's prefix but are not in its state
	// (Down removes them).
	StrayNamespaces []string `json:"strayNamespaces,omitempty"`
}

// InternetStatus is the internet router.
type InternetStatus struct {
	// Namespace is the router's namespace; Present whether it exists.
	Namespace string `json:"namespace"`
	Present   bool   `json:"present"`
	// PublicIPs are the addresses the router routes, ordered.
	PublicIPs []PublicIPStatus `json:"publicIps"`
}

// PublicIPStatus is one public IP and the namespace holding it.
type PublicIPStatus struct {
	Address   netip.Addr `json:"address"`
	Namespace string     `json:"namespace"`
}

// VNetStatus is one VNet.
type VNetStatus struct {
	VNetSpec
	// Namespace is the VNet router's namespace; Present whether it exists.
	Namespace string `json:"namespace"`
	Present   bool   `json:"present"`
	// Routes are the routes set with SetVNetRoutes.
	Routes []Route `json:"routes"`
}

// GatewayStatus is one gateway's instances.
type GatewayStatus struct {
	// ID is the gateway's resource ID.
	ID        string           `json:"id"`
	Instances []InstanceStatus `json:"instances"`
}

// InstanceStatus is one gateway instance.
type InstanceStatus struct {
	GatewayInstance
	// Present reports whether the namespace exists.
	Present bool `json:"present"`
}

// VMStatus is one VM.
type VMStatus struct {
	VM
	// Present reports whether the namespace exists.
	Present bool `json:"present"`
}

// SiteStatus is one site.
type SiteStatus struct {
	Site
	// Present reports whether both namespaces exist.
	Present bool `json:"present"`
}

// ClientStatus is one point-to-site client.
type ClientStatus struct {
	Client
	// Present reports whether its namespace exists.
	Present bool `json:"present"`
}

// Status returns the lab's topology.
func (l *Lab) Status() Status {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := Status{
		Prefix:    l.names.Prefix,
		StateDir:  l.dir,
		VNets:     []VNetStatus{},
		Gateways:  []GatewayStatus{},
		VMs:       []VMStatus{},
		Sites:     []SiteStatus{},
		Clients:   []ClientStatus{},
		Processes: l.processStatus(),
	}
	if l.hasInternet() {
		in := &InternetStatus{Namespace: l.names.Internet(), Present: nsPresent(l.names.Internet()), PublicIPs: []PublicIPStatus{}}
		for a, ns := range l.holders() {
			in.PublicIPs = append(in.PublicIPs, PublicIPStatus{Address: a, Namespace: ns})
		}
		slices.SortFunc(in.PublicIPs, func(a, b PublicIPStatus) int { return a.Address.Compare(b.Address) })
		s.Internet = in
	}
	for _, k := range sortedKeys(l.st.VNets) {
		v := l.st.VNets[k]
		ns := l.names.VNet(v.Spec.ID)
		s.VNets = append(s.VNets, VNetStatus{VNetSpec: v.Spec, Namespace: ns, Present: nsPresent(ns), Routes: append([]Route{}, v.Routes...)})
	}
	for _, k := range sortedKeys(l.st.Gateways) {
		g := l.st.Gateways[k]
		gs := GatewayStatus{ID: g.ID}
		for _, i := range sortedKeys(g.Instances) {
			gi := g.Instances[i]
			gs.Instances = append(gs.Instances, InstanceStatus{GatewayInstance: cloneInstance(gi), Present: nsPresent(gi.Namespace)})
		}
		s.Gateways = append(s.Gateways, gs)
	}
	for _, k := range sortedKeys(l.st.VMs) {
		vm := l.st.VMs[k]
		s.VMs = append(s.VMs, VMStatus{VM: *vm, Present: nsPresent(vm.Namespace)})
	}
	for _, k := range sortedKeys(l.st.Sites) {
		site := l.st.Sites[k]
		s.Sites = append(s.Sites, SiteStatus{Site: cloneSite(site), Present: nsPresent(site.Namespace) && nsPresent(site.HostNamespace)})
	}
	for _, k := range sortedKeys(l.st.Clients) {
		c := l.st.Clients[k]
		s.Clients = append(s.Clients, ClientStatus{Client: *c, Present: nsPresent(c.Namespace)})
	}
	recorded := l.recordedNamespaces()
	owned, _ := listNS(l.names)
	for _, ns := range owned {
		if !slices.Contains(recorded, ns) {
			s.StrayNamespaces = append(s.StrayNamespaces, ns)
		}
	}
	return s
}
