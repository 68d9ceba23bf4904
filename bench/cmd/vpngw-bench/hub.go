package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/vpngw/vpngw/internal/agentapi"
	"github.com/vpngw/vpngw/internal/gwconfig"
	"github.com/vpngw/vpngw/internal/reconcile"
)

// runHub serves the agent API of `vpngw serve` (reconcile.Hub, the part
// of the control plane that takes the agents' reports) on a Unix socket,
// handing instance the configuration in file, until ctx ends: the scale
// mode's control plane for an agent in remote mode (REMOTE=1), whose CPU
// is then measured with the agent's (scale -hub-pid). Every 10 s and at
// the end it logs the reports it took since the last line, by kind (bare
// heartbeat, delta, full status) with their bytes (reportCounter).
//
// SIGHUP adds a connection to the assignment (hubExtra), the next one
// takes it away again: a gateway operation on the control plane (a
// connection created or deleted) for the agent to apply while its tunnels
// are up.
func runHub(ctx context.Context, file, socket, instance string) error {
	in, err := gwconfig.LoadFile(file)
	if err != nil {
		return err
	}
	hub := reconcile.NewHub("", nil)
	hub.Set(map[string]agentapi.Assignment{instance: {Role: agentapi.RoleActive, Config: in.Config}})
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		extra := false
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				extra = !extra
				cfg := in.Config
				if extra {
					cfg.Connections = append(slices.Clone(cfg.Connections), hubExtra)
				}
				revs := hub.Set(map[string]agentapi.Assignment{instance: {Role: agentapi.RoleActive, Config: cfg}})
				fmt.Fprintf(os.Stderr, "%s hub: SIGHUP: connection %s %s, revision %d\n", time.Now().Format("15:04:05.000"),
					hubExtra.Name, map[bool]string{true: "added", false: "removed"}[extra], revs[instance])
			}
		}
	}()
	_ = os.Remove(socket)
	ln, err := net.Listen("unix", socket)
	if err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	rc := &reportCounter{next: hub}
	srv := &http.Server{Handler: rc}
	go func() {
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				rc.log()
				_ = srv.Close()
				return
			case <-t.C:
				rc.log()
			}
		}
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// hubExtra is the connection a SIGHUP adds to the hub's assignment: a
// responder-only site that never connects, outside the scale plans'
// prefixes and pools.
var hubExtra = gwconfig.Connection{Name: "hub-extra", RemoteAddress: "198.51.100.250", RemotePrefixes: []string{"10.250.0.0/24"},
	SharedKey: "vbenchHubExtraSecret", ConnectionMode: "ResponderOnly"}

// reportCounter counts the agent API's status reports by kind, told from
// the body's first bytes (a Report's fields come in a fixed order:
// "unchanged" marks a heartbeat, "baseSeq" a delta, else a full status),
// and their bytes, without reading the bodies twice.
type reportCounter struct {
	next http.Handler
	mu   sync.Mutex
	// n and bytes are per kind: heartbeat, delta, full.
	n, bytes [3]int64
}

var reportKinds = [3]string{"heartbeat", "delta", "full"}

func (rc *reportCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPut {
		rc.next.ServeHTTP(w, r)
		return
	}
	br := bufio.NewReaderSize(r.Body, 512)
	head, _ := br.Peek(512)
	kind := 2
	switch {
	case bytes.Contains(head, []byte(`"unchanged"`)):
		kind = 0
	case bytes.Contains(head, []byte(`"baseSeq"`)):
		kind = 1
	}
	cr := &countingReader{r: br}
	r.Body = struct {
		io.Reader
		io.Closer
	}{cr, r.Body}
	rc.next.ServeHTTP(w, r)
	rc.mu.Lock()
	rc.n[kind]++
	rc.bytes[kind] += cr.n
	rc.mu.Unlock()
}

// log writes the counts since the last call to stderr and resets them.
func (rc *reportCounter) log() {
	rc.mu.Lock()
	n, b := rc.n, rc.bytes
	rc.n, rc.bytes = [3]int64{}, [3]int64{}
	rc.mu.Unlock()
	line := time.Now().UTC().Format("15:04:05") + " reports:"
	for k := range n {
		line += fmt.Sprintf(" %s %d (%d bytes)", reportKinds[k], n[k], b[k])
	}
	fmt.Fprintln(os.Stderr, line)
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
