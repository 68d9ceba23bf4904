package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vpngw/vpngw/internal/server"
)

func addMigrateCommand(serve *cobra.Command, e *env) {
	var (
		from, to, logLevel string
		force              bool
		sf                 storeFlags
	)
	cmd := &cobra.Command{
		Use:   "migrate --from bolt:PATH --to etcd:URL[,URL...]",
		Short: "Copy a bbolt store into etcd (with every server stopped)",
		Long: `Copy every key of an existing installation's bbolt store (PATH is the
file, DATA-DIR/vpngw.db, or the data directory) into an etcd prefix, then
read the target back and check that it holds exactly the source's keys and
values. A target prefix that holds keys is refused unless --force, which
replaces them. Stop vpngw serve first (the bbolt file is locked while it
runs, and no server may run on the target prefix). Secrets stay sealed as
they were: start the servers on etcd with the same --secrets-key-file.
The --etcd-* flags (prefix, TLS, credentials) are those of serve --store
etcd. See docs/ha.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(e, logLevel, "text")
			if err != nil {
				return err
			}
			path, ok := strings.CutPrefix(from, "bolt:")
			if !ok || path == "" {
				return usageError{fmt.Errorf("--from %q: want bolt:PATH", from)}
			}
			eps, ok := strings.CutPrefix(to, "etcd:")
			if !ok || eps == "" {
				return usageError{fmt.Errorf("--to %q: want etcd:URL[,URL...]", to)}
			}
			sf.kind, sf.endpoints = server.StoreEtcd, strings.Split(eps, ",")
			so, err := sf.options(e)
			if err != nil {
				return err
			}
			res, err := server.Migrate(cmd.Context(), server.MigrateOptions{FromBolt: path, To: so, Force: force, Logger: log})
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "migrated %d keys (source revision %d) to %s prefix %s; replaced %d keys; verified\n",
				res.Copied, res.SourceRevision, eps, so.Etcd.Prefix, res.Removed)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&from, "from", "", "the store to copy: bolt:PATH (the bbolt file or the data directory)")
	f.StringVar(&to, "to", "", "the target: etcd:URL[,URL...] (etcd client URLs)")
	f.BoolVar(&force, "force", false, "replace whatever the target prefix holds")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	addEtcdFlags(f, &sf)
	_ = cmd.MarkFlagRequired("from")
	_ = cmd.MarkFlagRequired("to")
	serve.AddCommand(cmd)
}
