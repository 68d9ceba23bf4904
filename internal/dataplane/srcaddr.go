package dataplane

import (
	"errors"
	"fmt"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// srcSelector asks the kernel which source address it would use towards a
// remote address, the way a connected UDP socket gets one: connect(2) on an
// unbound datagram socket runs the routing lookup (rules, tables, the
// route's preferred source), getsockname(2) reads the address it chose, and
// a connect to AF_UNSPEC undoes both. No datagram is sent. It answers what a netlink RTM_GETROUTE answers for
// localFor at a fraction of the cost: three system calls and no message to
// build, parse or allocate (the netlink lookup cost 150-350 µs on an IKE
// SA's first message after idleness in the time-to-first-ping trace,
// docs/benchmarks.md "Time to first ping, sixth pass"). Not safe for
// concurrent use: the caller serialises (Dataplane.localMu). Its sockets
// are opened by open, in the network namespace of the caller (the data
// plane's, at Open: a test runs data planes of several namespaces in one
// process); the zero value answers nothing.
type srcSelector struct {
	// fds are the IPv4 and IPv6 sockets; ok says which are open (an IPv6
	// socket fails where IPv6 is off).
	fds [2]int
	ok  [2]bool
}

// open opens the sockets; it fails only if neither opens.
func (s *srcSelector) open() error {
	var errs []error
	for i, family := range []int{unix.AF_INET, unix.AF_INET6} {
		fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.IPPROTO_UDP)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.fds[i], s.ok[i] = fd, true
	}
	if len(errs) == 2 {
		return fmt.Errorf("dataplane: source address sockets: %w", errors.Join(errs...))
	}
	return nil
}

// pick returns the local address the kernel would send from towards remote.
func (s *srcSelector) pick(remote netip.Addr) (netip.Addr, error) {
	remote = remote.Unmap()
	fd, err := s.socket(remote.Is6())
	if err != nil {
		return netip.Addr{}, err
	}
	// Any port: connect only routes. Port 9 (discard), should a datagram
	// ever leave by mistake.
	var sa unix.Sockaddr
	if remote.Is6() {
		sa = &unix.SockaddrInet6{Port: 9, Addr: remote.As16()}
	} else {
		sa = &unix.SockaddrInet4{Port: 9, Addr: remote.As4()}
	}
	if err := unix.Connect(fd, sa); err != nil {
		return netip.Addr{}, fmt.Errorf("dataplane: source address towards %v: %w", remote, err)
	}
	local, err := unix.Getsockname(fd)
	// Dissolve the association (connect to AF_UNSPEC), which also unbinds
	// the source address the connect chose: the next pick routes afresh.
	if derr := disconnect(fd); derr != nil && err == nil {
		err = derr
	}
	if err != nil {
		return netip.Addr{}, fmt.Errorf("dataplane: source address towards %v: %w", remote, err)
	}
	switch a := local.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrFrom4(a.Addr), nil
	case *unix.SockaddrInet6:
		return netip.AddrFrom16(a.Addr), nil
	}
	return netip.Addr{}, fmt.Errorf("dataplane: source address towards %v: unexpected socket address %T", remote, local)
}

// errNoSrcSocket: the family's socket is not open.
var errNoSrcSocket = errors.New("dataplane: no source address socket for this family")

func (s *srcSelector) socket(v6 bool) (int, error) {
	i := 0
	if v6 {
		i = 1
	}
	if !s.ok[i] {
		return -1, errNoSrcSocket
	}
	return s.fds[i], nil
}

// close closes the sockets.
func (s *srcSelector) close() {
	for i := range s.fds {
		if s.ok[i] {
			unix.Close(s.fds[i])
			s.ok[i] = false
		}
	}
}

// disconnect dissolves a datagram socket's association: connect(2) with an
// AF_UNSPEC address (x/sys/unix has no Sockaddr for it).
func disconnect(fd int) error {
	sa := unix.RawSockaddr{Family: unix.AF_UNSPEC}
	if _, _, e := unix.Syscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&sa)), unsafe.Sizeof(sa)); e != 0 {
		return e
	}
	return nil
}
