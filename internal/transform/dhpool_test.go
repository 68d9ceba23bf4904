package transform

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"
)

// TestKeyPool: Get draws inline until Run refilled the pool after the
// quiet spell; a pooled key is handed out once; the pool holds at most
// its size; an ECP group is pooled only after Fill; a nil pool draws inline.
func TestKeyPool(t *testing.T) {
	p := NewKeyPool(3, 5*time.Millisecond, nil)
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { p.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()

	first, err := p.Get(DHMODP1024, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d, m := p.Stats(); d != 0 || m != 1 {
		t.Fatalf("first Get: drawn %d missed %d, want 0 1", d, m)
	}
	deadline := time.Now().Add(10 * time.Second)
	for p.Ready(DHMODP1024) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("pool not refilled: %d ready", p.Ready(DHMODP1024))
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	if n := p.Ready(DHMODP1024); n != 3 {
		t.Fatalf("%d keys ready, want the size 3", n)
	}
	seen := [][]byte{first.Public()}
	for range 5 {
		k, err := p.Get(DHMODP1024, nil)
		if err != nil {
			t.Fatal(err)
		}
		if k.Group() != DHMODP1024 {
			t.Fatalf("group %v", k.Group())
		}
		for _, s := range seen {
			if bytes.Equal(s, k.Public()) {
				t.Fatal("a key was handed out twice")
			}
		}
		seen = append(seen, k.Public())
	}
	if d, m := p.Stats(); d != 3 || m != 3 {
		t.Fatalf("drawn %d missed %d, want 3 3", d, m)
	}
	// Pooled keys agree with fresh ones.
	a, _ := p.Get(DHMODP1024, nil)
	b, _ := NewDH(DHMODP1024, nil)
	s1, err1 := a.Shared(b.Public())
	s2, err2 := b.Shared(a.Public())
	if err1 != nil || err2 != nil || !bytes.Equal(s1, s2) {
		t.Fatalf("pooled key does not agree: %v %v", err1, err2)
	}

	if _, err := p.Get(DHECP256, nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(30 * time.Millisecond)
	if n := p.Ready(DHECP256); n != 0 {
		t.Fatalf("ECP keys pooled: %d", n)
	}
	// Fill pools a group of any kind at once, and Get hands its keys out.
	if err := p.Fill(DHECP256); err != nil {
		t.Fatal(err)
	}
	if n := p.Ready(DHECP256); n != 3 {
		t.Fatalf("after Fill: %d ECP keys ready, want 3", n)
	}
	d0, _ := p.Stats()
	if k, err := p.Get(DHECP256, nil); err != nil || k.Group() != DHECP256 {
		t.Fatalf("Get after Fill: %v", err)
	}
	if d, _ := p.Stats(); d != d0+1 || p.Ready(DHECP256) != 2 {
		t.Fatalf("Get after Fill did not take a pooled key: drawn %d→%d, %d ready", d0, d, p.Ready(DHECP256))
	}
	var nilPool *KeyPool
	if k, err := nilPool.Get(DHMODP1024, nil); err != nil || k.Group() != DHMODP1024 {
		t.Fatalf("nil pool: %v", err)
	}
}

// TestKeyPoolWaitsForQuiet: while Gets keep coming faster than the quiet
// spell, Run draws nothing.
func TestKeyPoolWaitsForQuiet(t *testing.T) {
	p := NewKeyPool(2, 200*time.Millisecond, nil)
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { p.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()
	end := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(end) {
		if _, err := p.Get(DHMODP768, nil); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := p.Ready(DHMODP768); n != 0 {
		t.Fatalf("%d keys drawn during a busy spell", n)
	}
	if d, _ := p.Stats(); d != 0 {
		t.Fatalf("%d keys from the pool during a busy spell", d)
	}
}
