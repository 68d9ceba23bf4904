package resource

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// fakeView is an in-memory View. Get and List return copies, so a rule
// that mutated what it read would not change the stored state (and tests
// compare stored state to catch that).
type fakeView struct {
	objs    map[string]Object
	groups  map[string]bool
	failGet error // returned by Get when set
}

func newFakeView() *fakeView {
	return &fakeView{objs: map[string]Object{}, groups: map[string]bool{}}
}

func (f *fakeView) Get(_ context.Context, id ID) (Object, error) {
	if f.failGet != nil {
		return nil, f.failGet
	}
	o, ok := f.objs[id.Key()]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return Clone(o), nil
}

func (f *fakeView) List(_ context.Context, typ string) ([]Object, error) {
	var keys []string
	for k, o := range f.objs {
		if TypeOf(o) == typ {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	out := make([]Object, 0, len(keys))
	for _, k := range keys {
		out = append(out, Clone(f.objs[k]))
	}
	return out, nil
}

func (f *fakeView) GroupExists(_ context.Context, sub, group string) (bool, error) {
	return f.groups[strings.ToLower(sub+"/"+group)], nil
}

const testSub = DefaultSubscription

// world is a fake store plus the API's PUT pipeline.
type world struct {
	t    *testing.T
	v    *fakeView
	rand *rand.ChaCha8
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{t: t, v: newFakeView(), rand: rand.NewChaCha8([32]byte{1})}
	w.v.groups[strings.ToLower(testSub+"/rg")] = true
	w.v.groups[strings.ToLower(testSub+"/other")] = true
	return w
}

// id is the ID of a resource in group rg.
func id(typ, name string) ID {
	return ID{Subscription: testSub, ResourceGroup: "rg", Type: typ, Name: name}
}

func idIn(group, typ, name string) ID {
	return ID{Subscription: testSub, ResourceGroup: group, Type: typ, Name: name}
}

func ref(typ, name string) *SubResource { return &SubResource{ID: id(typ, name).String()} }

func subnetRef(vnet, subnet string) *SubResource {
	i := id(TypeVirtualNetworks, vnet)
	i.Child, i.ChildName = TypeSubnets, subnet
	return &SubResource{ID: i.String()}
}

// put runs the PUT pipeline (Prepare, Validate, Resolve) against the
// stored state and stores obj when it passes. obj's ID is set from its
// name and type in group rg unless already set.
func (w *world) put(obj Object) error {
	w.t.Helper()
	if obj.Meta().ID == "" {
		AssignIDs(obj, id(TypeOf(obj), obj.Meta().Name))
	}
	key := keyOf(obj)
	old := w.v.objs[key]
	var oldCopy Object
	if old != nil {
		oldCopy = Clone(old)
	}
	before := w.snapshot()
	if err := Prepare(obj, oldCopy, w.rand); err != nil {
		return err
	}
	if err := Validate(obj); err != nil {
		return err
	}
	if err := Resolve(context.Background(), w.v, obj, oldCopy); err != nil {
		return err
	}
	if after := w.snapshot(); after != before {
		w.t.Fatalf("Resolve changed stored state")
	}
	obj.SetProvisioningState(ProvisioningSucceeded)
	w.v.objs[key] = Clone(obj)
	return nil
}

func (w *world) mustPut(objs ...Object) {
	w.t.Helper()
	for _, o := range objs {
		if err := w.put(o); err != nil {
			w.t.Fatalf("put %s %s: %v", TypeOf(o), o.Meta().Name, err)
		}
	}
}

// get returns a copy of a stored resource.
func (w *world) get(typ, name string) Object {
	w.t.Helper()
	o, ok := w.v.objs[id(typ, name).Key()]
	if !ok {
		w.t.Fatalf("%s %s not stored", typ, name)
	}
	return Clone(o)
}

func (w *world) snapshot() string {
	var b strings.Builder
	keys := make([]string, 0, len(w.v.objs))
	for k := range w.v.objs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		j, err := json.Marshal(w.v.objs[k])
		if err != nil {
			w.t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s=%s\n", k, j)
	}
	return b.String()
}

// ---- builders of valid resources ----

func newVNet(name string, prefixes ...string) *VirtualNetwork {
	return &VirtualNetwork{
		Envelope:   Envelope{Name: name, Location: "westeurope"},
		Properties: VirtualNetworkProperties{AddressSpace: AddressSpace{AddressPrefixes: prefixes}},
	}
}

func (v *VirtualNetwork) with(name, prefix string) *VirtualNetwork {
	v.Properties.Subnets = append(v.Properties.Subnets, Subnet{Envelope: Envelope{Name: name}, Properties: SubnetProperties{AddressPrefix: prefix}})
	return v
}

// stdVNet is 10.1.0.0/16 with default 10.1.0.0/24 and GatewaySubnet 10.1.255.0/27.
func stdVNet(name string) *VirtualNetwork {
	return newVNet(name, "10.1.0.0/16").with("default", "10.1.0.0/24").with(GatewaySubnetName, "10.1.255.0/27")
}

func newPIP(name string) *PublicIPAddress {
	return &PublicIPAddress{
		Envelope:   Envelope{Name: name, Location: "westeurope"},
		SKU:        PublicIPAddressSku{Name: "Standard"},
		Properties: PublicIPAddressProperties{PublicIPAllocationMethod: "Static"},
	}
}

func newGateway(name, vnet string, pips ...string) *VirtualNetworkGateway {
	g := &VirtualNetworkGateway{
		Envelope: Envelope{Name: name, Location: "westeurope"},
		Properties: VirtualNetworkGatewayProperties{
			GatewayType: "Vpn", VpnType: "RouteBased",
			SKU: VirtualNetworkGatewaySku{Name: "VpnGw1"},
		},
	}
	for i, p := range pips {
		g.Properties.IPConfigurations = append(g.Properties.IPConfigurations, VirtualNetworkGatewayIPConfiguration{
			Name: fmt.Sprintf("ipconfig%d", i+1),
			Properties: VirtualNetworkGatewayIPConfigurationProperties{
				Subnet:          subnetRef(vnet, GatewaySubnetName),
				PublicIPAddress: ref(TypePublicIPAddresses, p),
			},
		})
	}
	if len(pips) > 1 {
		g.Properties.ActiveActive = true
	}
	return g
}

func newLNG(name, ip string, prefixes ...string) *LocalNetworkGateway {
	return &LocalNetworkGateway{
		Envelope: Envelope{Name: name, Location: "westeurope"},
		Properties: LocalNetworkGatewayProperties{
			GatewayIPAddress:         ip,
			LocalNetworkAddressSpace: AddressSpace{AddressPrefixes: prefixes},
		},
	}
}

func newConn(name, gw, lng string) *Connection {
	return &Connection{
		Envelope: Envelope{Name: name, Location: "westeurope"},
		Properties: ConnectionProperties{
			ConnectionType:         "IPsec",
			VirtualNetworkGateway1: ref(TypeVirtualNetworkGateways, gw),
			LocalNetworkGateway2:   ref(TypeLocalNetworkGateways, lng),
			SharedKey:              "abc123",
		},
	}
}

func newV2V(name, gw1, gw2 string) *Connection {
	return &Connection{
		Envelope: Envelope{Name: name, Location: "westeurope"},
		Properties: ConnectionProperties{
			ConnectionType:         "Vnet2Vnet",
			VirtualNetworkGateway1: ref(TypeVirtualNetworkGateways, gw1),
			VirtualNetworkGateway2: ref(TypeVirtualNetworkGateways, gw2),
			SharedKey:              "abc123",
		},
	}
}

func goodPolicy() IpsecPolicy {
	return IpsecPolicy{
		SaLifeTimeSeconds: 27000, SaDataSizeKilobytes: 102400000,
		IpsecEncryption: "GCMAES256", IpsecIntegrity: "GCMAES256",
		IkeEncryption: "AES256", IkeIntegrity: "SHA256",
		DhGroup: "DHGroup14", PfsGroup: "PFS2048",
	}
}

// testCert returns a base64 DER self-signed certificate.
func testCert(t testing.TB) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.NewChaCha8([32]byte{2}))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "P2SRoot"},
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<32, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.NewChaCha8([32]byte{3}), tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(der)
}

func p2sConfig(t testing.TB, pool string) *VpnClientConfiguration {
	return &VpnClientConfiguration{
		VpnClientAddressPool:      &AddressSpace{AddressPrefixes: []string{pool}},
		VpnClientProtocols:        []string{"IkeV2"},
		VpnAuthenticationTypes:    []string{"Certificate"},
		VpnClientRootCertificates: []VpnClientRootCertificate{{Name: "root1", Properties: VpnClientRootCertificateProperties{PublicCertData: testCert(t)}}},
	}
}

// ---- error matching ----

// allErrors flattens an *Error and its Details.
func allErrors(err error) []Error {
	e, ok := AsError(err)
	if !ok {
		return nil
	}
	out := []Error{*e}
	return append(out, e.Details...)
}

// expectErr checks err against a wanted code and target: "" code means
// success. A match anywhere in the error or its Details counts.
func expectErr(t *testing.T, err error, code, target string, msgParts ...string) {
	t.Helper()
	if code == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("want %s at %q, got success", code, target)
	}
	if _, ok := AsError(err); !ok {
		t.Fatalf("want *Error %s, got %T: %v", code, err, err)
	}
	for _, e := range allErrors(err) {
		if e.Code != code || e.Target != target {
			continue
		}
		if e.Message == "" {
			t.Fatalf("%s at %s has an empty message", code, target)
		}
		for _, p := range msgParts {
			if !strings.Contains(e.Message, p) {
				t.Fatalf("%s at %s: message %q does not contain %q", code, target, e.Message, p)
			}
		}
		return
	}
	var got []string
	for _, e := range allErrors(err) {
		got = append(got, e.Code+"@"+e.Target+": "+e.Message)
	}
	t.Fatalf("want %s at %q, got:\n  %s", code, target, strings.Join(got, "\n  "))
}

var errBoom = errors.New("boom")
