// Package apitest runs the real api.Server for the tests of its clients (the
// CLI), over a bbolt store in a temporary directory, with a Provisioner the
// test steers:
//
//   - Hold keeps the operations on a resource in progress until the test
//     releases them, so clients poll the real operation URLs
//     (Azure-AsyncOperation, Location, Retry-After);
//   - Fail makes them fail with a given ARM error, which the API reports as
//     the operation's error;
//   - SetInstances fills the instances view of a gateway.
//   - SetBGP sets the BGP reports of a gateway's instances.
//
// Everything else (validation, references, etags, shared keys, deletes) is
// the API's own.
package apitest

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/vpngw/vpngw/internal/agentapi"
	"github.com/vpngw/vpngw/internal/api"
	"github.com/vpngw/vpngw/internal/armerr"
	"github.com/vpngw/vpngw/internal/resource"
	"github.com/vpngw/vpngw/internal/store/boltstore"
)

// NewServer starts an api.Server over a new bbolt store in t.TempDir(), as
// `vpngw serve` builds it; cfg.Store is ignored. The server and the store
// are closed when the test ends. The caller serves it (httptest).
func NewServer(t testing.TB, cfg api.Config) *api.Server {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "vpngw.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg.Store = st
	srv, err := api.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return srv
}

// Provisioner is an api.Provisioner and api.GatewayInstanceLister that
// realizes nothing, like api.NoneProvisioner, except where the test told it
// otherwise. Resources are named by their IDs, compared case-insensitively;
// an operation on a subnet or a shared key is an operation on the VNet or
// connection that holds it (the API realizes the parent). Its methods are
// safe for concurrent use.
type Provisioner struct {
	// mu guards the maps.
	mu sync.Mutex
	// gates holds the operations of these resources until released.
	gates map[string]*Gate
	// fails makes the operations of these resources fail.
	fails map[string]*armerr.Error
	// instances is the instances view of these gateways.
	instances map[string][]api.GatewayInstance
	// bgp are the BGP reports of these gateways' instances.
	bgp map[string][]agentapi.BGPStatus
}

var (
	_ api.Provisioner           = (*Provisioner)(nil)
	_ api.GatewayInstanceLister = (*Provisioner)(nil)
)

// NewProvisioner returns a Provisioner that holds and fails nothing.
func NewProvisioner() *Provisioner {
	return &Provisioner{
		gates:     map[string]*Gate{},
		fails:     map[string]*armerr.Error{},
		instances: map[string][]api.GatewayInstance{},
		bgp:       map[string][]agentapi.BGPStatus{},
	}
}

// Gate holds operations in progress until Release.
type Gate struct {
	// entered receives a value each time an operation reaches the gate.
	entered chan struct{}
	// released is closed by Release.
	released chan struct{}
	// once guards the close of released.
	once sync.Once
}

// Release lets the held operations, and every later one on the resource,
// finish. Releasing twice is harmless.
func (g *Gate) Release() { g.once.Do(func() { close(g.released) }) }

// Entered is sent a value each time an operation reaches the gate.
func (g *Gate) Entered() <-chan struct{} { return g.entered }

// Hold makes every operation on the resource id (create, update, delete,
// reset, shared key) stay in progress until the returned Gate is released
// or the server closes. Holding a held resource returns its gate.
func (p *Provisioner) Hold(id string) *Gate {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := strings.ToLower(id)
	if g := p.gates[k]; g != nil {
		return g
	}
	g := &Gate{entered: make(chan struct{}, 100), released: make(chan struct{})}
	p.gates[k] = g
	return g
}

// Fail makes the operations on the resource id fail with err (after any
// Hold is released). The API shows err's code, message and target as the
// operation's error.
func (p *Provisioner) Fail(id string, err *armerr.Error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fails[strings.ToLower(id)] = err
}

// SetInstances sets the instances view of the gateway gwID.
func (p *Provisioner) SetInstances(gwID string, list []api.GatewayInstance) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.instances[strings.ToLower(gwID)] = list
}

// run passes an operation on id through its gate, then fails it if told to.
func (p *Provisioner) run(ctx context.Context, id string) error {
	p.mu.Lock()
	g, fail := p.gates[strings.ToLower(id)], p.fails[strings.ToLower(id)]
	p.mu.Unlock()
	if g != nil {
		select {
		case g.entered <- struct{}{}:
		default:
		}
		select {
		case <-g.released:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if fail != nil {
		return fail
	}
	return ctx.Err()
}

// Name implements api.Provisioner.
func (p *Provisioner) Name() string { return "test" }

// Realize implements api.Provisioner.
func (p *Provisioner) Realize(ctx context.Context, _ resource.View, obj resource.Object) error {
	return p.run(ctx, obj.Meta().ID)
}

// Teardown implements api.Provisioner.
func (p *Provisioner) Teardown(ctx context.Context, _ resource.View, obj resource.Object) error {
	return p.run(ctx, obj.Meta().ID)
}

// ResetGateway implements api.Provisioner.
func (p *Provisioner) ResetGateway(ctx context.Context, _ resource.View, gw *resource.VirtualNetworkGateway, _ string) error {
	return p.run(ctx, gw.ID)
}

// ResetConnection implements api.Provisioner.
func (p *Provisioner) ResetConnection(ctx context.Context, _ resource.View, c *resource.Connection) error {
	return p.run(ctx, c.ID)
}

// ConnectionStatus implements api.Provisioner: NotConnected, as no tunnel
// exists.
func (p *Provisioner) ConnectionStatus(ctx context.Context, c *resource.Connection) (resource.ConnectionStatusReport, error) {
	return api.NoneProvisioner{}.ConnectionStatus(ctx, c)
}

// SetBGP sets the BGP reports of the gateway gwID's instances.
func (p *Provisioner) SetBGP(gwID string, reports []agentapi.BGPStatus) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bgp[strings.ToLower(gwID)] = reports
}

// GatewayBGP implements api.GatewayBGPReporter: the reports given to
// SetBGP, or none.
func (p *Provisioner) GatewayBGP(_ context.Context, gw *resource.VirtualNetworkGateway) ([]agentapi.BGPStatus, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.bgp[strings.ToLower(gw.ID)], nil
}

// GatewayInstances implements api.GatewayInstanceLister: the list given to
// SetInstances, or none.
func (p *Provisioner) GatewayInstances(_ context.Context, gw *resource.VirtualNetworkGateway) ([]api.GatewayInstance, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.instances[strings.ToLower(gw.ID)], nil
}
