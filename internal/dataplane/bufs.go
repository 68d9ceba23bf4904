package dataplane

import (
	"sync"

	"golang.org/x/sys/unix"
)

// Packet buffers live outside the Go heap.
//
// The readers hold IdealBatchSize 64 KiB buffers each from the start (the
// TUN reader and four UDP receivers: ~40 MiB). On the Go heap these count
// towards the collector's goal (GOGC: the heap may grow by as much again
// before a collection), so every megabyte of buffers let another megabyte
// of garbage become resident: at 1,000 tunnels that headroom was most of
// the agent's memory per tunnel. Mapped with mmap they cost resident
// memory only for the pages packets touched, and the collector neither
// counts nor scans them. Go code may hold pointers to such memory; the
// collector ignores them.

// bufArena hands out packet buffers carved from anonymous mappings of
// bufsPerChunk buffers each. Buffers are never returned one by one (the
// elemPool keeps them on its free list); release unmaps everything once
// no goroutine uses them any more.
type bufArena struct {
	mu     sync.Mutex
	chunks [][]byte // the mappings
	next   int      // buffers handed out of the last chunk
}

// bufsPerChunk buffers are mapped at a time (2 MiB).
const bufsPerChunk = 32

// get returns a zeroed buffer: from a mapping, or from the Go heap if mmap
// fails.
func (a *bufArena) get() *[bufSize]byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.chunks) == 0 || a.next == bufsPerChunk {
		m, err := unix.Mmap(-1, 0, bufsPerChunk*bufSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
		if err != nil {
			return new([bufSize]byte)
		}
		a.chunks = append(a.chunks, m)
		a.next = 0
	}
	c := a.chunks[len(a.chunks)-1]
	b := (*[bufSize]byte)(c[a.next*bufSize : (a.next+1)*bufSize])
	a.next++
	return b
}

// release unmaps every buffer. The caller guarantees that none is used
// again (Dataplane.Close, after joining the packet path's goroutines).
func (a *bufArena) release() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, m := range a.chunks {
		_ = unix.Munmap(m)
	}
	a.chunks, a.next = nil, 0
}
