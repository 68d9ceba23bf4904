package cli

// The resource commands (vpngw group ..., vpngw network ...) share what is in
// this file: az's global arguments, az's argument conventions, the API
// client, output, waiting for long-running operations and error reporting.
//
// Leaf commands parse their own flags (DisableFlagParsing) so that az's
// conventions work: "--address-prefixes 10.0.0.0/16 10.1.0.0/16" and
// "--enable-bgp false" are rewritten by rewriteArgs before pflag sees them.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/vpngw/vpngw/internal/client"
	"github.com/vpngw/vpngw/internal/resource"
)

// DefaultServer is the API address the CLI uses when neither --server nor
// VPNGW_URL is set (vpngw serve's default --listen).
const DefaultServer = "https://127.0.0.1:8480"

// globalOptions are az's global arguments, shared by every resource command.
type globalOptions struct {
	// subscription is --subscription (default $VPNGW_SUBSCRIPTION, else
	// resource.DefaultSubscription).
	subscription string
	// server is --server (default $VPNGW_URL, else DefaultServer).
	server string
	// caFile is --ca-file (default $VPNGW_CA_FILE, else the local
	// server's CA in the default data directory when it exists).
	caFile string
	// output is -o/--output.
	output string
	// query is --query, a JMESPath expression applied to the output.
	query string
	// onlyShowErrors is --only-show-errors: no warnings on stderr.
	onlyShowErrors bool
	// debug is --debug: log each HTTP request (method, URL, status) to stderr.
	debug bool
}

// addGlobalFlags puts the global arguments on a command group; they are
// inherited by every command below it.
func addGlobalFlags(cmd *cobra.Command, g *globalOptions) {
	f := cmd.PersistentFlags()
	f.StringVar(&g.subscription, "subscription", "", "Subscription ID. Default: $VPNGW_SUBSCRIPTION, else "+resource.DefaultSubscription+".")
	f.StringVar(&g.server, "server", "", "URL of the vpngw API (vpngw serve). Default: $VPNGW_URL, else "+DefaultServer+".")
	f.StringVar(&g.caFile, "ca-file", "", "CA certificate (PEM) that the API's HTTPS certificate chains to, trusted besides the system's. Default: $VPNGW_CA_FILE, else the CA of a vpngw serve on this host (DATA-DIR/tls/ca.crt in its default data directory).")
	addEnum(f, &g.output, "output", "o", "Output format.", outputFormats)
	g.output = "json"
	f.Lookup("output").Usage += " Default: json."
	f.StringVar(&g.query, "query", "", "JMESPath query string. See http://jmespath.org/ for more information and examples.")
	f.BoolVar(&g.onlyShowErrors, "only-show-errors", false, "Only show errors, suppressing warnings.")
	f.BoolVar(&g.debug, "debug", false, "Log every HTTP request (method, URL, status; never bodies) to stderr.")
}

// newGroup returns a command that only groups subcommands. Like az it
// prints its help when called alone and refuses unknown subcommands as a
// usage error.
func newGroup(use, short, long string) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Long:  long,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("'%s' is misspelled or not recognized by the system; see '%s --help'", args[0], cmd.CommandPath())}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
}

// invocation is one run of a resource command.
type invocation struct {
	e   *env
	g   *globalOptions
	cmd *cobra.Command
	// api is the client for --server.
	api *client.Client
	// sub is the subscription.
	sub string
	// out writes results.
	out printer
	// flatten selects az's output shape for network resources (properties
	// lifted to the top); resource groups keep "properties", as in az.
	flatten bool
}

// leaf builds a resource command. run does the work; required names the
// flags that must be given (they are marked [Required] in the help).
func leaf(e *env, g *globalOptions, use, short string, run func(ctx context.Context, x *invocation) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:                use,
		Short:              short,
		DisableFlagParsing: true,
		Args:               cobra.ArbitraryArgs,
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		x, err := prepare(e, g, cmd, args)
		if err != nil || x == nil {
			return err
		}
		ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
		defer stop()
		return x.fail(run(ctx, x))
	}
	return cmd
}

// required marks flags as required.
func required(cmd *cobra.Command, names ...string) {
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	if prev := cmd.Annotations["required"]; prev != "" {
		// Called again (shared flag sets): the names add up.
		names = append(strings.Split(prev, ","), names...)
	}
	cmd.Annotations["required"] = strings.Join(names, ",")
	for _, n := range names {
		if fl := cmd.Flags().Lookup(n); fl != nil && !strings.HasPrefix(fl.Usage, "[Required] ") {
			fl.Usage = "[Required] " + fl.Usage
		}
	}
}

// prepare parses the arguments of a leaf command and sets up the
// invocation. It returns (nil, nil) when help was requested and printed.
func prepare(e *env, g *globalOptions, cmd *cobra.Command, args []string) (*invocation, error) {
	cmd.InheritedFlags() // merge the global flags into cmd.Flags()
	f := cmd.Flags()
	f.SetOutput(io.Discard)
	if err := f.Parse(rewriteArgs(f, args)); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil, cmd.Help()
		}
		return nil, usageError{err}
	}
	if help, _ := f.GetBool("help"); help {
		return nil, cmd.Help()
	}
	if rest := f.Args(); len(rest) > 0 {
		return nil, usageError{fmt.Errorf("unrecognized arguments: %s", strings.Join(rest, " "))}
	}
	if req := cmd.Annotations["required"]; req != "" {
		var missing []string
		for _, n := range strings.Split(req, ",") {
			if !changed(f, n) {
				name := "--" + n
				if fl := f.Lookup(n); fl != nil && fl.Shorthand != "" {
					name += "/-" + fl.Shorthand
				}
				missing = append(missing, name)
			}
		}
		if len(missing) > 0 {
			return nil, usageError{fmt.Errorf("the following arguments are required: %s", strings.Join(missing, ", "))}
		}
	}
	x := &invocation{e: e, g: g, cmd: cmd, out: printer{w: e.stdout, format: g.output}, flatten: true}
	if g.query != "" {
		q, err := parseQuery(g.query)
		if err != nil {
			return nil, usageError{err}
		}
		x.out.query = q
	}
	x.sub = g.subscription
	if x.sub == "" {
		x.sub = e.getenv("VPNGW_SUBSCRIPTION")
	}
	if x.sub == "" {
		x.sub = resource.DefaultSubscription
	}
	if strings.ContainsAny(x.sub, "/?#") {
		return nil, usageError{fmt.Errorf("invalid --subscription %q", x.sub)}
	}
	server := g.server
	if server == "" {
		server = e.getenv("VPNGW_URL")
	}
	if server == "" {
		server = DefaultServer
	}
	opts := []client.Option{client.WithUserAgent("vpngw-cli/" + Version)}
	if g.debug {
		h := slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelDebug})
		opts = append(opts, client.WithLogger(slog.New(h)))
	}
	hc, err := httpClient(e, g.caFile)
	if err != nil {
		return nil, usageError{err}
	}
	opts = append(opts, client.WithHTTPClient(hc), client.WithToken(tokenSource(e, server, hc)))
	api, err := client.New(server, opts...)
	if err != nil {
		return nil, usageError{fmt.Errorf("invalid --server: %w", err)}
	}
	x.api = api
	return x, nil
}

// warn prints an az-style warning unless --only-show-errors.
func (x *invocation) warn(format string, args ...any) {
	if !x.g.onlyShowErrors {
		fmt.Fprintf(x.e.stderr, "WARNING: "+format+"\n", args...)
	}
}

// deprecated warns when a deprecated spelling of a flag was used.
func (x *invocation) deprecated(old, instead string) {
	if fl := x.cmd.Flags().Lookup(old); fl != nil && fl.Changed {
		x.warn("Argument '--%s' has been deprecated and will be removed in a future release. Use '--%s' instead.", old, instead)
	}
}

// changed reports whether a flag (or an alias of it) was given.
func (x *invocation) changed(name string) bool { return changed(x.cmd.Flags(), name) }

// groupID is the ID of resource group rg.
func (x *invocation) groupID(rg string) resource.ID {
	return resource.ID{Subscription: x.sub, ResourceGroup: rg}
}

// groupPath is the path of resource group rg as ARM's resource group API
// spells it.
func (x *invocation) groupPath(rg string) string {
	return "/subscriptions/" + url.PathEscape(x.sub) + "/resourcegroups/" + url.PathEscape(rg)
}

// id is the ID of resource name of type typ in group rg.
func (x *invocation) id(rg, typ, name string) resource.ID {
	return resource.ID{Subscription: x.sub, ResourceGroup: rg, Type: typ, Name: name}
}

// listPath is the collection of typ in group rg, or in the subscription
// when rg is empty.
func (x *invocation) listPath(rg, typ string) string {
	if rg == "" {
		return "/subscriptions/" + url.PathEscape(x.sub) + "/providers/" + resource.Provider + "/" + typ
	}
	return x.groupID(rg).String() + "/providers/" + resource.Provider + "/" + typ
}

// ref resolves a name or full resource ID given for flag, as az does: a
// name means the resource of type typ in the same group and subscription.
func (x *invocation) ref(flag, value, rg, typ string) (resource.ID, error) {
	if strings.HasPrefix(value, "/") {
		id, err := resource.ParseID(value, "--"+flag)
		if err != nil {
			return resource.ID{}, usageError{fmt.Errorf("--%s: %q is not a valid resource ID: %v", flag, value, msgOf(err))}
		}
		if id.Type != typ || id.Child != "" {
			return resource.ID{}, usageError{fmt.Errorf("--%s: %q is not the ID of a %s resource", flag, value, typ)}
		}
		return id, nil
	}
	if value == "" || strings.ContainsAny(value, "/?#") {
		return resource.ID{}, usageError{fmt.Errorf("--%s: %q is neither a name nor a resource ID", flag, value)}
	}
	return x.id(rg, typ, value), nil
}

func msgOf(err error) string {
	if e, ok := resource.AsError(err); ok {
		return e.Message
	}
	return err.Error()
}

// location returns loc, or the location of resource group rg when loc is
// empty (as az does).
func (x *invocation) location(ctx context.Context, loc, rg string) (string, error) {
	if loc != "" {
		return loc, nil
	}
	var g struct {
		Location string `json:"location"`
	}
	if _, err := x.api.Get(ctx, x.groupPath(rg), &g); err != nil {
		return "", err
	}
	return g.Location, nil
}

// get reads a resource into a generic object, returning its etag too.
func (x *invocation) get(ctx context.Context, path string) (map[string]any, string, error) {
	resp, err := x.api.Get(ctx, path, nil)
	if err != nil {
		return nil, "", err
	}
	v, err := decodeOutput(resp.Body)
	if err != nil {
		return nil, "", err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, "", fmt.Errorf("the server answered GET %s with a non-object", path)
	}
	return obj, resp.ETag(), nil
}

// show prints one response body.
func (x *invocation) show(body []byte, cols []column) error {
	v, err := decodeOutput(body)
	if err != nil {
		return err
	}
	if v == nil {
		return nil
	}
	return x.out.print(azShape(v, x.flatten), cols)
}

// showList prints list items.
func (x *invocation) showList(items [][]byte, cols []column) error {
	all := make([]any, 0, len(items))
	for _, it := range items {
		v, err := decodeOutput(it)
		if err != nil {
			return err
		}
		all = append(all, v)
	}
	return x.showValues(all, cols)
}

// showValues prints decoded list items (rewriting them in az's shape).
func (x *invocation) showValues(items []any, cols []column) error {
	for i, v := range items {
		items[i] = azShape(v, x.flatten)
	}
	return x.out.print(items, cols)
}

// list GETs a collection and prints it.
func (x *invocation) list(ctx context.Context, path string, cols []column) error {
	items, err := x.api.ListValues(ctx, path)
	if err != nil {
		return err
	}
	if items == nil {
		items = []any{} // printed as [], as before
	}
	return x.showValues(items, cols)
}

// finish waits for an operation unless noWait, showing progress on a
// terminal, then prints its result with cols (print=false: print nothing,
// as az's delete does).
func (x *invocation) finish(ctx context.Context, p *client.Poller, noWait, print bool, cols []column) error {
	if noWait {
		return nil
	}
	if !p.Done() {
		stop := startSpinner(x.e.stderr)
		err := p.Wait(ctx, nil)
		stop()
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("interrupted; the operation continues on the server (%s)", p.Operation().URL())
			}
			return err
		}
	}
	if err := p.Result(nil); err != nil {
		return err
	}
	if !print {
		return nil
	}
	return x.show(p.Body(), cols)
}

// put PUTs body (If-Match etag when not empty) and finishes the operation.
func (x *invocation) put(ctx context.Context, path string, body any, etag string, noWait bool, cols []column) error {
	var o *client.RequestOptions
	if etag != "" {
		o = &client.RequestOptions{IfMatch: etag}
	}
	p, err := x.api.Put(ctx, path, body, o)
	if err != nil {
		return err
	}
	return x.finish(ctx, p, noWait, true, cols)
}

// del deletes path; a resource that does not exist is not an error (ARM
// answers 204, and az's delete succeeds silently).
func (x *invocation) del(ctx context.Context, path string, noWait bool) error {
	p, err := x.api.Delete(ctx, path, nil)
	if e, ok := client.AsError(err); ok && e.StatusCode == http.StatusNotFound && e.Code == resource.CodeResourceNotFound {
		return nil
	}
	if err != nil {
		return err
	}
	return x.finish(ctx, p, noWait, false, nil)
}

// armError renders an API error as az does:
//
//	(Code) message
//	Target: target
type armError struct{ e *client.Error }

func (a armError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "(%s) %s", a.e.Code, a.e.Message)
	if a.e.StatusCode == http.StatusPreconditionFailed && a.e.OperationStatus == "" {
		b.WriteString("\nThe resource was changed by someone else while this command was updating it; nothing was written. Run the command again.")
	}
	if a.e.Target != "" {
		b.WriteString("\nTarget: " + a.e.Target)
	}
	for _, d := range a.e.Details {
		fmt.Fprintf(&b, "\nDetail: (%s) %s", d.Code, d.Message)
		if d.Target != "" {
			b.WriteString("\n  Target: " + d.Target)
		}
	}
	return b.String()
}

func (a armError) Unwrap() error { return a.e }

// fail maps an error of a command to its exit code: usage errors stay, API
// 404s exit 3, everything else (API errors, failed operations, network
// failures) exits 1.
func (x *invocation) fail(err error) error {
	if err == nil {
		return nil
	}
	var ue usageError
	var ee exitError
	if errors.As(err, &ue) || errors.As(err, &ee) {
		return err
	}
	if e, ok := client.AsError(err); ok {
		code := ExitError
		if e.StatusCode == http.StatusNotFound && e.OperationStatus == "" {
			code = ExitNotFound
		}
		return exitError{code: code, err: armError{e}}
	}
	var ue2 *url.Error
	if errors.As(err, &ue2) && !errors.Is(err, context.Canceled) {
		return exitError{code: ExitError, err: fmt.Errorf("cannot reach the vpngw API at %s (set --server or VPNGW_URL): %w", x.api.BaseURL(), ue2.Err)}
	}
	return exitError{code: ExitError, err: err}
}

// tagsOf parses az's --tags key[=value] list; "" clears the tags.
func tagsOf(list []string) (map[string]any, error) {
	tags := map[string]any{}
	for _, t := range list {
		if t == "" {
			continue
		}
		k, v, _ := strings.Cut(t, "=")
		if k == "" {
			return nil, usageError{fmt.Errorf("--tags: %q is not key[=value]", t)}
		}
		tags[k] = v
	}
	return tags, nil
}

// subRef is an ARM SubResource, {"id": ...}.
func subRef(id resource.ID) map[string]any { return map[string]any{"id": id.String()} }

// obj returns m[key] as an object, creating it when absent.
func obj(m map[string]any, key string) map[string]any {
	if o, ok := m[key].(map[string]any); ok {
		return o
	}
	o := map[string]any{}
	m[key] = o
	return o
}

// strs converts []string for a JSON body.
func strs(l []string) []any {
	out := make([]any, len(l))
	for i, s := range l {
		out[i] = s
	}
	return out
}

// nonEmpty drops empty strings: --dns-servers "" clears a list.
func nonEmpty(l []string) []string {
	return slices.DeleteFunc(slices.Clone(l), func(s string) bool { return s == "" })
}
