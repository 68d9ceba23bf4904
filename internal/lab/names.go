package lab

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// DefaultPrefix is the namespace prefix of the production lab.
const DefaultPrefix = "vpngw"

// Interface names inside the lab's namespaces. Each namespace is dedicated to
// one role, so the names inside an endpoint are fixed; the router-side ends
// carry a hash of the endpoint's namespace name.
const (
	// IfWAN is an endpoint's leg to the internet router (gateway instance,
	// site device). It holds the public IP(s) as /32s.
	IfWAN = "wan0"
	// IfLAN is a gateway instance's leg into the GatewaySubnet, and a site
	// device's leg to its host.
	IfLAN = "lan0"
	// IfVM is a VM's or site host's only interface.
	IfVM = "eth0"
)

// The name patterns are compiled on first use rather than in the package
// initialiser, which every start of the binary (each CLI command) runs.
var (
	prefixRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z][a-z0-9]{0,15}$`) })
	siteRE   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$`) })
)

// ValidPrefix reports whether p can prefix the lab's namespace names: a
// lower-case letter, then up to 15 lower-case letters or digits. A hyphen is
// not allowed, so one lab's prefix is never the start of another lab's
// namespace names ("vpngw" owns "vpngw-*", never "vpngwx-*").
func ValidPrefix(p string) bool { return prefixRE().MatchString(p) }

// Names computes the lab's namespace names. They are deterministic, so that
// `vpngw lab exec` finds a namespace from a resource's name without asking
// the server. Keys are case-insensitive: VNet and gateway keys are ARM
// resource IDs, VMs are keyed by resource group and name, sites by name.
type Names struct {
	// Prefix starts every namespace name, followed by "-" (see ValidPrefix).
	Prefix string
}

// Owns reports whether the namespace name belongs to the lab with this
// prefix.
func (n Names) Owns(ns string) bool { return strings.HasPrefix(ns, n.Prefix+"-") }

// Internet is the internet router's namespace.
func (n Names) Internet() string { return n.Prefix + "-inet" }

// VNet is the namespace of the virtual network with resource ID id.
func (n Names) VNet(id string) string { return n.Prefix + "-vnet-" + shortHash(id) }

// GatewayInstance is the namespace of instance i of the gateway with
// resource ID id.
func (n Names) GatewayInstance(id string, i int) string {
	return n.Prefix + "-gw-" + shortHash(id) + "-" + strconv.Itoa(i)
}

// VM is the namespace of VM name in resource group rg.
func (n Names) VM(rg, name string) string { return n.Prefix + "-vm-" + shortHash(vmKey(rg, name)) }

// SiteDevice is the namespace of site name's VPN device.
func (n Names) SiteDevice(name string) string { return n.Prefix + "-site-" + strings.ToLower(name) }

// SiteHost is the namespace of the host behind site name's device.
func (n Names) SiteHost(name string) string { return n.Prefix + "-sitehost-" + strings.ToLower(name) }

// Client is the namespace of point-to-site client name.
func (n Names) Client(name string) string { return n.Prefix + "-client-" + strings.ToLower(name) }

// vmKey is the state key of a VM.
func vmKey(rg, name string) string { return strings.ToLower(rg) + "/" + strings.ToLower(name) }

// shortHash is 8 hex digits of SHA-256 of the lower-cased key.
func shortHash(key string) string {
	h := sha256.Sum256([]byte(strings.ToLower(key)))
	return hex.EncodeToString(h[:4])
}

// routerIf is the name of the router-side end ("p-" in the internet router,
// "v-" in a VNet) of the leg of the endpoint namespace ns: at most 10 bytes.
func routerIf(kind byte, ns string) string { return string(kind) + "-" + shortHash(ns) }

// bridgeName is the VNet namespace's bridge for a subnet.
func bridgeName(subnet string) string { return "b-" + shortHash(subnet) }

// checkSiteName validates a site name: 1-40 lower-case letters, digits and
// hyphens, not starting or ending with a hyphen (matched case-insensitively).
func checkSiteName(name string) error { return checkEndpointName("site", name) }

// checkEndpointName checks the name of a site or client (kind).
func checkEndpointName(kind, name string) error {
	if !siteRE().MatchString(strings.ToLower(name)) {
		return fmt.Errorf("%w: %s name %q: want 1-40 letters, digits and hyphens, not starting or ending with a hyphen", ErrInvalid, kind, name)
	}
	return nil
}
