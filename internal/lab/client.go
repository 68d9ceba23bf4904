package lab

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
)

// ClientSpec describes a point-to-site client to create.
type ClientSpec struct {
	// Name is the client's name: 1-40 letters, digits and hyphens
	// (case-insensitive; the namespace uses the lower-case form).
	Name string
	// PublicIP is its address on the internet: a TEST-NET address outside
	// the API's public IP pool.
	PublicIP netip.Addr
}

// Client is a lab point-to-site client: a namespace on the internet with
// a public address and no LAN, like a laptop. A VPN client (strongSwan)
// runs in it and gets its tunnel address from the gateway.
type Client struct {
	// Name is the client's name (lower case).
	Name string `json:"name"`
	// PublicIP is its public address (on wan0).
	PublicIP netip.Addr `json:"publicIp"`
	// Namespace is its namespace.
	Namespace string `json:"namespace"`
}

// CreateClient creates a client (or repairs the one with the same name
// and address, returning it). A client of that name with another address
// is a conflict: delete it first.
func (l *Lab) CreateClient(ctx context.Context, spec ClientSpec) (Client, error) {
	if err := checkEndpointName("client", spec.Name); err != nil {
		return Client{}, err
	}
	if err := l.checkEndpointIP(spec.PublicIP); err != nil {
		return Client{}, err
	}
	name := strings.ToLower(spec.Name)
	c := &Client{Name: name, PublicIP: spec.PublicIP, Namespace: l.names.Client(name)}
	l.mu.Lock()
	defer l.mu.Unlock()
	if old, ok := l.st.Clients[name]; ok {
		if old.PublicIP != c.PublicIP {
			return Client{}, fmt.Errorf("%w: client %s exists with public IP %s; delete it first", ErrConflict, name, old.PublicIP)
		}
		if err := l.realizeClient(ctx, old); err != nil {
			return Client{}, err
		}
		return *old, nil
	}
	if holder, ok := l.holders()[spec.PublicIP]; ok {
		return Client{}, fmt.Errorf("%w: public IP %s is held by %s", ErrAddressInUse, spec.PublicIP, holder)
	}
	l.st.Clients[name] = c
	if err := l.save(); err != nil {
		return Client{}, err
	}
	if err := l.realizeClient(ctx, c); err != nil {
		if uerr := l.unrealizeClient(ctx, c); uerr != nil {
			l.log.Error("removing a client that failed to build", "client", name, "err", uerr)
		}
		return Client{}, err
	}
	l.log.Info("created client", "client", name, "publicIP", c.PublicIP, "ns", c.Namespace)
	return *c, nil
}

// GetClient returns a client.
func (l *Lab) GetClient(name string) (Client, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.st.Clients[strings.ToLower(name)]
	if !ok {
		return Client{}, fmt.Errorf("%w: client %s", ErrNotFound, name)
	}
	return *c, nil
}

// Clients lists the clients by name.
func (l *Lab) Clients() []Client {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := []Client{}
	for _, k := range sortedKeys(l.st.Clients) {
		out = append(out, *l.st.Clients[k])
	}
	return out
}

// DeleteClient deletes a client's namespace with the processes inside
// it. It returns ErrNotFound if there is no such client.
func (l *Lab) DeleteClient(ctx context.Context, name string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.st.Clients[strings.ToLower(name)]
	if !ok {
		return fmt.Errorf("%w: client %s", ErrNotFound, name)
	}
	if err := l.unrealizeClient(ctx, c); err != nil {
		return err
	}
	l.log.Info("deleted client", "client", c.Name)
	return nil
}

// unrealizeClient stops the processes in a client's namespace, deletes
// it and its internet leg, and forgets the client; callers hold mu.
func (l *Lab) unrealizeClient(ctx context.Context, c *Client) error {
	if err := l.stopProcessesIn(ctx, c.Namespace); err != nil {
		return err
	}
	delete(l.st.Clients, c.Name)
	if err := l.removePublicLeg(c.Namespace); err != nil {
		return err
	}
	if err := deleteNS(ctx, c.Namespace, l.stopTimeout); err != nil {
		return err
	}
	return l.save()
}

// realizeClient makes the client's namespace and its internet leg (its
// default route to the internet router).
func (l *Lab) realizeClient(ctx context.Context, c *Client) error {
	if _, err := ensureNS(ctx, c.Namespace); err != nil {
		return err
	}
	if err := setSysctls(c.Namespace, hostSysctls()); err != nil {
		return err
	}
	return l.realizePublicLeg(ctx, c.Namespace, []netip.Addr{c.PublicIP})
}
