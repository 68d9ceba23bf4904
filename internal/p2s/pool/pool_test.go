package pool

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"
)

func pfx(s ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, x := range s {
		out = append(out, netip.MustParsePrefix(x))
	}
	return out
}

// TestNewRefuses: New and Check refuse the same prefixes, alike; both
// accept a /12, the largest pool.
func TestNewRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []netip.Prefix
	}{
		{"none", nil},
		{"/30", pfx("172.16.0.0/30")},
		{"host bits", pfx("172.16.0.1/29")},
		{"IPv6", pfx("fd00::/64")},
		{"overlap", pfx("172.16.0.0/24", "172.16.0.128/25")},
		{"too large", pfx("10.0.0.0/8")},
		{"too many in all", pfx("10.0.0.0/12", "172.16.0.0/29")},
	} {
		if _, err := New(tc.in); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", tc.name, err)
		}
		// Check refuses what New refuses, with the same reason.
		_, nerr := New(tc.in)
		if err := Check(tc.in); err == nil || err.Error() != nerr.Error() {
			t.Errorf("%s: Check says %v, New %v", tc.name, err, nerr)
		}
	}
	for _, in := range [][]netip.Prefix{pfx("172.16.0.0/29"), pfx("10.0.0.0/12"), pfx("10.0.0.0/13", "10.8.0.0/14", "10.12.0.0/15")} {
		if err := Check(in); err != nil {
			t.Errorf("Check(%v): %v", in, err)
		}
		if _, err := New(in); err != nil {
			t.Errorf("New(%v): %v", in, err)
		}
	}
}

// TestLeases: a /29 gives 5 clients (not .0, .1 or .7); no address twice;
// the sixth client gets ErrExhausted; a key gets its address back; a
// released address is reused last.
func TestLeases(t *testing.T) {
	p, err := New(pfx("172.16.201.0/29"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Gateway() != netip.MustParseAddr("172.16.201.1") {
		t.Fatalf("gateway %v", p.Gateway())
	}
	seen := map[netip.Addr]bool{}
	for i := range 5 {
		a, err := p.Lease(fmt.Sprint("c", i))
		if err != nil {
			t.Fatal(err)
		}
		if seen[a] || a == p.Gateway() || a.As4()[3] == 0 || a.As4()[3] == 7 {
			t.Fatalf("lease %d: %v (seen %v)", i, a, seen)
		}
		seen[a] = true
	}
	if _, err := p.Lease("c5"); !errors.Is(err, ErrExhausted) {
		t.Fatalf("sixth client: %v", err)
	}
	a1, _ := p.Lease("c1")
	if again, _ := p.Lease("c1"); again != a1 {
		t.Fatal("the same key got another address")
	}
	p.Release("c1")
	p.Release("c1") // no-op
	if _, ok := p.Holder(a1); ok {
		t.Fatal("released address still held")
	}
	b, err := p.Lease("c9")
	if err != nil || b != a1 {
		t.Fatalf("after one release: %v %v", b, err)
	}
	if l, n := p.Stats(); l != 5 || n != 5 {
		t.Fatalf("stats %d/%d", l, n)
	}
}

// TestReuseOrder: with free addresses left, a released address waits
// behind them.
func TestReuseOrder(t *testing.T) {
	p, _ := New(pfx("10.9.0.0/24", "10.9.1.0/29"))
	a, _ := p.Lease("a")
	p.Release("a")
	for i := range 250 {
		b, err := p.Lease(fmt.Sprint(i))
		if err != nil {
			t.Fatal(err)
		}
		if b == a && i < 250-1 {
			t.Fatalf("released %v handed out again at lease %d while others were free", a, i)
		}
	}
	if _, n := p.Stats(); n != 253+5 {
		t.Fatalf("size %d", n)
	}
}

func BenchmarkLeaseRelease(b *testing.B) {
	p, _ := New(pfx("10.8.0.0/16"))
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = fmt.Sprint(i)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		k := keys[i%len(keys)]
		if _, err := p.Lease(k); err != nil {
			b.Fatal(err)
		}
		p.Release(k)
	}
}
