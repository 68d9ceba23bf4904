// Package pool hands out point-to-site client addresses from a gateway's
// vpnClientAddressPool: one address per connected client, never two
// clients on one address, and an address returned only after its client
// is gone. Azure's pools are IPv4 prefixes of /29 or larger; the network
// and broadcast addresses and the first host address of every prefix
// (kept for the gateway's own side of the pool) are never leased.
//
// A Pool is O(1) per lease and release: a free list per prefix in
// allocation order, so released addresses are reused last (a reconnecting
// client's old address is not handed to someone else at once), and a map
// from lease key to address so that a client that reconnects with the
// same key gets its address back while it is still leased.
package pool

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
)

// ErrExhausted: every address of the pool is leased.
var ErrExhausted = errors.New("pool: every client address is in use")

// ErrInvalid: a pool prefix that cannot be used.
var ErrInvalid = errors.New("pool: invalid prefix")

// Pool is a set of client addresses. Its methods are safe for concurrent
// use.
type Pool struct {
	mu       sync.Mutex
	prefixes []netip.Prefix
	gateway  []netip.Addr
	free     []netip.Addr // FIFO: next lease at head
	head     int
	byKey    map[string]netip.Addr
	byAddr   map[netip.Addr]string
	size     int
}

// maxAddrs bounds a pool's size (Azure's largest SKU has 10,000 P2S
// clients; a /16 is 65,534 addresses).
const maxAddrs = 1 << 20

// Check reports whether New would accept prefixes (IPv4, /29 or larger,
// not overlapping, at most maxAddrs addresses in all), without building
// the pool: a configuration's check of a /12 costs nothing per address.
func Check(prefixes []netip.Prefix) error {
	size := 0
	for i, pr := range prefixes {
		if !pr.IsValid() || !pr.Addr().Is4() || pr.Bits() > 29 || pr.Masked() != pr {
			return fmt.Errorf("%w: prefixes[%d] %v: want an IPv4 network of /29 or larger", ErrInvalid, i, pr)
		}
		if pr.Bits() < 32-20 {
			return fmt.Errorf("%w: prefixes[%d] %v: larger than %d addresses", ErrInvalid, i, pr, maxAddrs)
		}
		for j, o := range prefixes[:i] {
			if o.Overlaps(pr) {
				return fmt.Errorf("%w: prefixes[%d] %v overlaps prefixes[%d] %v", ErrInvalid, i, pr, j, o)
			}
		}
		n := 1 << (32 - pr.Bits())
		if size+n > maxAddrs {
			return fmt.Errorf("%w: more than %d addresses in all", ErrInvalid, maxAddrs)
		}
		size += n - 3 // as New counts them: .0, .1 and the last are not leased
	}
	if len(prefixes) == 0 {
		return fmt.Errorf("%w: no prefixes", ErrInvalid)
	}
	return nil
}

// New returns a pool over prefixes, if Check accepts them.
func New(prefixes []netip.Prefix) (*Pool, error) {
	if err := Check(prefixes); err != nil {
		return nil, err
	}
	p := &Pool{byKey: map[string]netip.Addr{}, byAddr: map[netip.Addr]string{}}
	for _, pr := range prefixes {
		n := 1 << (32 - pr.Bits())
		p.prefixes = append(p.prefixes, pr)
		gw := pr.Addr().Next()
		p.gateway = append(p.gateway, gw)
		// .0 is the network, .1 the gateway's, the last the broadcast.
		a := gw.Next()
		for range n - 3 {
			p.free = append(p.free, a)
			a = a.Next()
		}
		p.size += n - 3
	}
	return p, nil
}

// Gateway is the gateway's own address in the first prefix (the DNS and
// next hop clients are told about).
func (p *Pool) Gateway() netip.Addr { return p.gateway[0] }

// Prefixes are the pool's prefixes.
func (p *Pool) Prefixes() []netip.Prefix { return append([]netip.Prefix(nil), p.prefixes...) }

// Lease returns an address for the client key (e.g. its identity and IKE
// SA): the same address while that key holds one, else the free address
// that has been free longest.
func (p *Pool) Lease(key string) (netip.Addr, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if a, ok := p.byKey[key]; ok {
		return a, nil
	}
	if p.head == len(p.free) {
		return netip.Addr{}, fmt.Errorf("%w (%d addresses in %v)", ErrExhausted, p.size, p.prefixes)
	}
	a := p.free[p.head]
	p.head++
	if p.head > len(p.free)/2 && p.head > 64 {
		// Compact the consumed head now and then (amortised O(1)).
		p.free = append(p.free[:0], p.free[p.head:]...)
		p.head = 0
	}
	p.byKey[key], p.byAddr[a] = a, key
	return a, nil
}

// Release returns the key's address to the pool; it is a no-op for a key
// without one.
func (p *Pool) Release(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	a, ok := p.byKey[key]
	if !ok {
		return
	}
	delete(p.byKey, key)
	delete(p.byAddr, a)
	p.free = append(p.free, a)
}

// Holder returns the key that leases a, if any.
func (p *Pool) Holder(a netip.Addr) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	k, ok := p.byAddr[a]
	return k, ok
}

// Stats returns the number of leased and of all leasable addresses.
func (p *Pool) Stats() (leased, size int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.byKey), p.size
}
