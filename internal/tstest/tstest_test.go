package tstest

import (
	"os/exec"
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
