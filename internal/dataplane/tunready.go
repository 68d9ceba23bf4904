package dataplane

import (
	"os"

	"golang.org/x/sys/unix"
)

// fileReady returns a function reporting whether f has data to read now
// (poll(2) with a zero timeout), or nil when f is nil or has no descriptor.
// The descriptor is taken with Control, which leaves it non-blocking for
// the runtime's poller (File.Fd would make it blocking).
func fileReady(f *os.File) func() bool {
	if f == nil {
		return nil
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return nil
	}
	fd := -1
	if rc.Control(func(u uintptr) { fd = int(u) }) != nil || fd < 0 {
		return nil
	}
	return func() bool {
		p := [1]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(p[:], 0)
		return err == nil && n > 0 && p[0].Revents&unix.POLLIN != 0
	}
}
