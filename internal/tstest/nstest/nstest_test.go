package nstest

import (
	"context"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

func TestLab(t *testing.T) {
	RequirePriv(t)
	a, b := New(t, "vdp-nst"), New(t, "vdp-nst")
	if a.Name == b.Name || !strings.HasPrefix(a.Name, "vdp-nst-") {
		t.Fatalf("names %q %q", a.Name, b.Name)
	}
	Link(t, a, "v0", netip.MustParsePrefix("192.0.2.1/24"), b, "v0", netip.MustParsePrefix("192.0.2.2/24"))
	a.MustRun(t, "ping", "-c1", "-W2", "192.0.2.2")

	// Go code in b listens; a dials; both sockets live in their namespaces.
	var ln net.Listener
	if err := b.Do(func() (err error) {
		ln, err = net.Listen("tcp4", "192.0.2.2:7000")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Write([]byte("hello"))
		c.Close()
	}()
	var c net.Conn
	if err := a.Do(func() (err error) {
		c, err = net.DialTimeout("tcp4", "192.0.2.2:7000", 2*time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(c)
	c.Close()
	if string(got) != "hello" {
		t.Fatalf("got %q", got)
	}
	// The root namespace has no 192.0.2.2.
	if _, err := net.DialTimeout("tcp4", "192.0.2.2:7000", 200*time.Millisecond); err == nil {
		t.Fatal("dial from the root namespace succeeded")
	}

}

func TestCleanupKillsProcesses(t *testing.T) {
	RequirePriv(t)
	var pid int
	var name string
	t.Run("lab", func(t *testing.T) {
		a := New(t, "vdp-nst")
		name = a.Name
		cmd := a.Command(context.Background(), "sleep", "300")
		if err := a.Start(cmd); err != nil {
			t.Fatal(err)
		}
		pid = cmd.Process.Pid
		WaitFor(t, 2*time.Second, func() bool { return len(a.pids()) > 0 }, "sleep not in namespace")
	})
	// The subtest's cleanup has run: process and namespace are gone.
	if err := syscallKill0(pid); err == nil {
		t.Errorf("process %d survived cleanup", pid)
	}
	if _, err := os.Stat("/run/netns/" + name); err == nil {
		t.Errorf("namespace %s survived cleanup", name)
	}
}

func syscallKill0(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Signal(syscallSignal0)
}

func TestRequirePrivEnv(t *testing.T) {
	if privMissing() != "" {
		t.Skip("only meaningful when privileged")
	}
	// Privileged: RequirePriv must neither skip nor fail.
	RequirePriv(t)
}

func TestEventually(t *testing.T) {
	n := 0
	if !Eventually(time.Second, func() bool { n++; return n == 3 }) {
		t.Fatal("Eventually gave up")
	}
	if Eventually(50*time.Millisecond, func() bool { return false }) {
		t.Fatal("Eventually returned true")
	}
}
