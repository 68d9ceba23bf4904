// Command vpngw is a self-hosted virtual network gateway: an Azure-style
// resource API and control plane (vpngw serve), a gateway instance with its
// own IKEv2/ESP engine (vpngw agent), a CLI in the style of `az network`
// (vpngw network ...), and an emulated cloud on one host (vpngw lab ...).
package main

import (
	"os"

	"github.com/vpngw/vpngw/internal/cli"
)

func main() {
	cli.TuneRuntime(os.Args[1:], os.Getenv)
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
