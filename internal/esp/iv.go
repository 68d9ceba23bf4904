package esp

import (
	"crypto/rand"
	"sync"
)

// ivSource hands out random IVs for CBC-mode ciphers (RFC 3602 §3: the IV
// must be unpredictable) from per-P buffers refilled 4 KiB at a time, so
// there is no system call and no allocation per packet.
type ivSource struct {
	pool sync.Pool // of *ivBuf
}

type ivBuf struct {
	off int
	b   [4096]byte
}

func newIVSource() *ivSource {
	return &ivSource{pool: sync.Pool{New: func() any { return &ivBuf{off: 4096} }}}
}

// fill writes len(iv) fresh random bytes into iv. Each byte is used once.
func (s *ivSource) fill(iv []byte) {
	p := s.pool.Get().(*ivBuf)
	if p.off+len(iv) > len(p.b) {
		rand.Read(p.b[:]) // never fails (Go 1.24+), crashes the program instead
		p.off = 0
	}
	copy(iv, p.b[p.off:])
	p.off += len(iv)
	s.pool.Put(p)
}
