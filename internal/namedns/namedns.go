// Package namedns creates named network namespaces the way `ip netns add`
// does (bind-mounted at /run/netns/NAME), for the lab and for tests.
//
// It exists because netns.NewNamed moves the calling OS thread into the new
// namespace: Create runs it on a locked thread that is thrown away, so the
// caller's thread never changes namespace.
package namedns

import (
	"runtime"

	"github.com/vishvananda/netns"
)

// Create creates the namespace NAME bind-mounted at /run/netns/NAME and
// returns a handle to it (the caller closes it). The calling goroutine's
// thread stays in its own namespace.
func Create(name string) (netns.NsHandle, error) {
	type result struct {
		h   netns.NsHandle
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with this goroutine
		h, err := netns.NewNamed(name)
		ch <- result{h, err}
	}()
	r := <-ch
	return r.h, r.err
}
