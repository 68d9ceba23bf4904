package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"

	"github.com/vpngw/vpngw/internal/agentapi"
	"github.com/vpngw/vpngw/internal/gwconfig"
	"github.com/vpngw/vpngw/internal/reconcile"
)

// runHub serves the agent API of `vpngw serve` (reconcile.Hub, the part
// of the control plane that takes the agents' reports) on a Unix socket,
// handing instance the configuration in file, until ctx ends: the scale
// mode's control plane for an agent in remote mode (REMOTE=1), whose CPU
// is then measured with the agent's (scale -hub-pid).
func runHub(ctx context.Context, file, socket, instance string) error {
	in, err := gwconfig.LoadFile(file)
	if err != nil {
		return err
	}
	hub := reconcile.NewHub("", nil)
	hub.Set(map[string]agentapi.Assignment{instance: {Role: agentapi.RoleActive, Config: in.Config}})
	_ = os.Remove(socket)
	ln, err := net.Listen("unix", socket)
	if err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	srv := &http.Server{Handler: hub}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
