package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// The command reference in docs/cli.md is generated from the command tree;
// TestCLIReferenceUpToDate fails when it is stale. Regenerate it with
//
//	VPNGW_UPDATE_DOCS=1 go test ./internal/cli -run TestCLIReferenceUpToDate
const (
	refBegin = "<!-- BEGIN GENERATED: vpngw group/network reference (go test ./internal/cli -run TestCLIReferenceUpToDate) -->"
	refEnd   = "<!-- END GENERATED -->"
)

// cliReference renders the group and network command trees as Markdown.
func cliReference() string {
	e := &env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, getenv: func(string) string { return "" }}
	root := newRootCommand(e)
	var b strings.Builder
	b.WriteString("### Global arguments\n\nEvery `vpngw group` and `vpngw network` command takes these (as az's global arguments):\n\n")
	network, _, _ := root.Find([]string{"network"})
	flagTable(&b, network.PersistentFlags())
	for _, name := range []string{"group", "network"} {
		top, _, _ := root.Find([]string{name})
		walk(top, func(c *cobra.Command) {
			fmt.Fprintf(&b, "\n### %s\n\n", c.CommandPath())
			desc := c.Long
			if desc == "" {
				desc = c.Short
			}
			b.WriteString(desc + "\n")
			if c.HasAvailableSubCommands() {
				b.WriteString("\n| Command | Description |\n|---|---|\n")
				for _, s := range c.Commands() {
					if s.IsAvailableCommand() {
						fmt.Fprintf(&b, "| [`%s`](#%s) | %s |\n", s.Name(), anchor(s.CommandPath()), cellText(s.Short))
					}
				}
				return
			}
			fmt.Fprintf(&b, "\n```\n%s [arguments]\n```\n\n", c.CommandPath())
			flagTable(&b, c.LocalNonPersistentFlags())
			if c.Example != "" {
				var ex []string
				for _, l := range strings.Split(strings.TrimRight(c.Example, "\n"), "\n") {
					ex = append(ex, strings.TrimPrefix(l, "  "))
				}
				fmt.Fprintf(&b, "\nExample:\n\n```\n%s\n```\n", strings.Join(ex, "\n"))
			}
		})
	}
	return b.String()
}

func walk(c *cobra.Command, fn func(*cobra.Command)) {
	fn(c)
	for _, s := range c.Commands() {
		if s.IsAvailableCommand() {
			walk(s, fn)
		}
	}
}

// anchor is GitHub's heading anchor for "### text".
func anchor(s string) string {
	return strings.ToLower(strings.ReplaceAll(s, " ", "-"))
}

func cellText(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ")
}

func flagTable(b *strings.Builder, fs *pflag.FlagSet) {
	if !fs.HasAvailableFlags() || (fs.NFlag() == 0 && onlyHelp(fs)) {
		b.WriteString("Only the global arguments.\n")
		return
	}
	b.WriteString("| Argument | Description |\n|---|---|\n")
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden || f.Name == "help" {
			return
		}
		name := "`--" + f.Name + "`"
		if f.Shorthand != "" {
			name += " `-" + f.Shorthand + "`"
		}
		switch f.Value.Type() {
		case "bool":
		case "strings":
			name += " *value ...*"
		default:
			name += " *" + f.Value.Type() + "*"
		}
		fmt.Fprintf(b, "| %s | %s |\n", name, cellText(f.Usage))
	})
}

// onlyHelp reports whether --help is the only visible flag.
func onlyHelp(fs *pflag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(f *pflag.Flag) {
		if !f.Hidden && f.Name != "help" {
			n++
		}
	})
	return n == 0
}

func TestCLIReferenceUpToDate(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	path := filepath.Join(filepath.Dir(file), "..", "..", "docs", "cli.md")
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(doc)
	i, j := strings.Index(s, refBegin), strings.Index(s, refEnd)
	if i < 0 || j < i {
		t.Fatalf("docs/cli.md lacks the markers %q ... %q", refBegin, refEnd)
	}
	want := refBegin + "\n\n" + cliReference() + "\n" + refEnd
	got := s[i : j+len(refEnd)]
	if got == want {
		return
	}
	if os.Getenv("VPNGW_UPDATE_DOCS") != "" {
		if err := os.WriteFile(path, []byte(s[:i]+want+s[j+len(refEnd):]), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("updated %s", path)
		return
	}
	t.Errorf("docs/cli.md's command reference is out of date with the command tree; regenerate it with\n\tVPNGW_UPDATE_DOCS=1 go test ./internal/cli -run TestCLIReferenceUpToDate")
}
