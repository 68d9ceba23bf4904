package tstest

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestStopTerm(t *testing.T) {
	p := StartT(t, exec.Command("sleep", "60"), 5*time.Second)
	if !p.Running() {
		t.Fatal("not running after start")
	}
	if !p.Stop(syscall.SIGTERM, 5*time.Second) {
		t.Fatal("sleep needed SIGKILL after SIGTERM")
	}
	if p.Running() || p.Err() == nil {
		t.Fatalf("after Stop: running %v, exit status %v", p.Running(), p.Err())
	}
	if !p.Stop(syscall.SIGTERM, time.Second) {
		t.Fatal("Stop of an exited process reported SIGKILL")
	}
}

func TestStopEscalates(t *testing.T) {
	p, err := Start(exec.Command("sh", "-c", "trap '' TERM; exec sleep 60"))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // let sh ignore SIGTERM (inherited across exec)
	start := time.Now()
	if p.Stop(syscall.SIGTERM, 300*time.Millisecond) {
		t.Fatal("a process ignoring SIGTERM stopped without SIGKILL")
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("SIGKILL after %v, before the grace period", d)
	}
	select {
	case <-p.Done():
	default:
		t.Fatal("Done not closed after Stop")
	}
}

func TestWait(t *testing.T) {
	p := StartT(t, exec.Command("true"), time.Second)
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := Start(exec.Command("/nonexistent/binary")); err == nil {
		t.Fatal("Start of a missing binary succeeded")
	}
}

// TestChildDiesWithTestProcess: a process started by Start is killed when
// the test binary that started it is SIGKILLed (as go test's or timeout's
// kill does), so nothing is left behind.
func TestChildDiesWithTestProcess(t *testing.T) {
	if os.Getenv("TSTEST_ORPHAN_PARENT") == "1" {
		p, err := Start(exec.Command("sleep", "60"))
		if err != nil {
			fmt.Println("ERR", err)
			os.Exit(2)
		}
		fmt.Println(p.Cmd.Process.Pid)
		time.Sleep(time.Minute)
		return
	}
	parent := exec.Command(os.Args[0], "-test.run=^TestChildDiesWithTestProcess$")
	parent.Env = append(os.Environ(), "TSTEST_ORPHAN_PARENT=1")
	out, err := parent.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	pp := StartT(t, parent, time.Second)
	var pid int
	if _, err := fmt.Fscan(out, &pid); err != nil || pid <= 0 {
		t.Fatalf("the parent did not print its child's PID: %v", err)
	}
	pp.Stop(syscall.SIGKILL, time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("child %d outlived its killed parent by 5 s", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alive: pid exists and is not a zombie waiting for a reaper.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}
