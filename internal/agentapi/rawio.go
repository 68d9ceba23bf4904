package agentapi

// The report connection's reads and writes as raw system calls.
//
// A heartbeat is one write and one read every ReportEvery. Through net's
// own Read and Write each is a syscall.Syscall, which tells the runtime a
// goroutine may block (entersyscall); when all of the process's Ps were
// idle, that wakes the runtime's sysmon thread out of its deep sleep, and
// sysmon, taking the wake-up for the start of work, polls every 20 µs
// until the Ps are idle again. At 10,000 idle clients on a 2-CPU VM those
// wake-ups made sysmon 0.44 – 0.67 % of a core in remote mode against
// 0.29 – 0.43 % from its config file (docs/benchmarks.md, "Remote mode's
// idle CPU, accounted"). A socket of net's is non-blocking, so its read
// and write never block: rawIOConn makes them with syscall.RawSyscall
// (the runtime is not told) and waits for readiness in the poller through
// syscall.RawConn, as net does, deadlines included. Elsewhere than on
// Linux withRawIO leaves the connection as it is.
//
//	rawIOConn.Write ─► RawConn.Write(f) ─► f: sendto(MSG_NOSIGNAL) until done or EAGAIN ─► [poller waits for writable, within the deadline] ─► f again
//	rawIOConn.Read  ─► RawConn.Read(f)  ─► f: recvfrom             until data, EOF or an error; EAGAIN ─► [poller waits for readable] ─► f again

import (
	"context"
	"net"
)

// rawIODial returns dial with its connections wrapped by withRawIO.
func rawIODial(dial func(ctx context.Context) (net.Conn, error)) func(ctx context.Context) (net.Conn, error) {
	return func(ctx context.Context) (net.Conn, error) {
		c, err := dial(ctx)
		if err != nil {
			return nil, err
		}
		return withRawIO(c), nil
	}
}
