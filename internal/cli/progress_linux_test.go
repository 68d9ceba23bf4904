package cli

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY returns the two ends of a new pseudo-terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Skipf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Skipf("ptsname: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("open pts: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s
}

func TestSpinnerOnlyOnTerminals(t *testing.T) {
	var buf bytes.Buffer
	if isTerminal(&buf) {
		t.Error("a buffer is a terminal")
	}
	stop := startSpinner(&buf)
	time.Sleep(200 * time.Millisecond)
	stop()
	if buf.Len() != 0 {
		t.Errorf("spinner wrote %q to a non-terminal", buf.String())
	}

	master, slave := openPTY(t)
	if !isTerminal(slave) {
		t.Fatal("a pty is not a terminal")
	}
	stop = startSpinner(slave)
	time.Sleep(400 * time.Millisecond)
	stop()
	master.SetReadDeadline(time.Now().Add(2 * time.Second))
	var got string
	buf2 := make([]byte, 4096)
	for !strings.HasSuffix(got, "\r            \r") {
		n, err := master.Read(buf2)
		got += string(buf2[:n])
		if err != nil {
			break
		}
	}
	if !strings.Contains(got, "Running ..") || !strings.HasSuffix(got, "\r") {
		t.Errorf("terminal got %q, want the Running indicator, cleared at the end", got)
	}
}
