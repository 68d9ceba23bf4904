package lab

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/google/renameio/v2"
	"golang.org/x/sys/unix"
)

// Files in the state directory.
const (
	stateFile = "state.json"
	lockFile  = "lock"
)

// stateVersion is the version of state.json's format.
const stateVersion = 1

// state is the lab's desired topology, persisted as state.json. Maps are
// keyed by the lower-cased identity of their objects.
type state struct {
	// Version is stateVersion.
	Version int `json:"version"`
	// Prefix is the lab's namespace prefix; a state directory belongs to
	// one prefix.
	Prefix string `json:"prefix"`
	// Internet records that the internet router was asked for (it is also
	// implied by any gateway or site).
	Internet bool `json:"internet"`
	// VNets by lower-cased resource ID.
	VNets map[string]*vnetState `json:"vnets"`
	// Gateways by lower-cased resource ID.
	Gateways map[string]*gatewayState `json:"gateways"`
	// VMs by vmKey (resource group/name, lower case).
	VMs map[string]*VM `json:"vms"`
	// Sites by lower-cased name.
	Sites map[string]*Site `json:"sites"`
	// Clients by lower-cased name.
	Clients map[string]*Client `json:"clients,omitempty"`
	// Processes by name.
	Processes map[string]*Process `json:"processes"`
}

// vnetState is one realized VNet.
type vnetState struct {
	// Spec is the VNet's address space and subnets.
	Spec VNetSpec `json:"spec"`
	// Routes are the routes set with SetVNetRoutes.
	Routes []Route `json:"routes,omitempty"`
}

// gatewayState is one gateway's instances.
type gatewayState struct {
	// ID is the gateway's resource ID as first given.
	ID string `json:"id"`
	// Instances by index.
	Instances map[int]*GatewayInstance `json:"instances"`
	// Frontends maps public IPs (strings) to the indexes (sorted) of the
	// instances the internet delivers them to, by a hash of the client's
	// address (SetFrontends). (The key was "frontends", one index, before:
	// a state of that form loses its frontends until the next
	// SetFrontends.)
	Frontends map[string][]int `json:"frontendSets,omitempty"`
}

func newState(prefix string) *state {
	return &state{
		Version:   stateVersion,
		Prefix:    prefix,
		VNets:     map[string]*vnetState{},
		Gateways:  map[string]*gatewayState{},
		VMs:       map[string]*VM{},
		Sites:     map[string]*Site{},
		Clients:   map[string]*Client{},
		Processes: map[string]*Process{},
	}
}

// loadState reads dir/state.json, or returns an empty state if there is
// none.
func loadState(dir, prefix string) (*state, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return newState(prefix), nil
	}
	if err != nil {
		return nil, fmt.Errorf("lab: read state: %w", err)
	}
	st := newState(prefix)
	if err := json.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("lab: %s: %w", filepath.Join(dir, stateFile), err)
	}
	if st.Version != stateVersion {
		return nil, fmt.Errorf("lab: %s has version %d, want %d", filepath.Join(dir, stateFile), st.Version, stateVersion)
	}
	if st.Prefix != prefix {
		return nil, fmt.Errorf("%w: state directory %s belongs to the lab with prefix %q, not %q", ErrConflict, dir, st.Prefix, prefix)
	}
	// Maps absent from the file decode as nil.
	fresh := newState(prefix)
	if st.VNets == nil {
		st.VNets = fresh.VNets
	}
	if st.Gateways == nil {
		st.Gateways = fresh.Gateways
	}
	if st.VMs == nil {
		st.VMs = fresh.VMs
	}
	if st.Sites == nil {
		st.Sites = fresh.Sites
	}
	if st.Clients == nil {
		st.Clients = fresh.Clients
	}
	if st.Processes == nil {
		st.Processes = fresh.Processes
	}
	for _, g := range st.Gateways {
		if g.Instances == nil {
			g.Instances = map[int]*GatewayInstance{}
		}
	}
	return st, nil
}

// saveState writes dir/state.json atomically: a temporary file, fsync,
// rename, fsync of the directory.
func saveState(dir string, st *state) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("lab: encode state: %w", err)
	}
	// renameio: a temporary file beside it, fsync, rename.
	if err := renameio.WriteFile(filepath.Join(dir, stateFile), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("lab: write state: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// lockDir takes an exclusive, non-blocking lock on dir/lock. The lock is
// released when the returned file is closed or the process exits; the file
// is close-on-exec, so processes the lab starts do not inherit it.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lab: lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s is locked by another process (a running vpngw serve?)", ErrLocked, dir)
		}
		return nil, fmt.Errorf("lab: lock %s: %w", dir, err)
	}
	return f, nil
}

// sortedKeys returns a map's keys in order.
func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// instances returns every gateway instance, ordered by gateway and index.
func (l *Lab) instances() []*GatewayInstance {
	var out []*GatewayInstance
	for _, id := range sortedKeys(l.st.Gateways) {
		g := l.st.Gateways[id]
		for _, i := range sortedKeys(g.Instances) {
			out = append(out, g.Instances[i])
		}
	}
	return out
}
