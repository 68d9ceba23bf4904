package cli

import (
	"fmt"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"
)

func osGetenv(k string) string { return os.Getenv(k) }

// Version is the vpngw version, set at link time with -ldflags "-X".
var Version = "dev"

func addVersionCommand(root *cobra.Command, e *env) {
	root.AddCommand(&cobra.Command{
		Use:   "version",
		Short: "Print the vpngw version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := Version
			if bi, ok := debug.ReadBuildInfo(); ok && v == "dev" {
				v = "dev (" + bi.GoVersion + ")"
			}
			fmt.Fprintln(e.stdout, "vpngw", v)
			return nil
		},
	})
}
