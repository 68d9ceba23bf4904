package cli

// vpngw lab ...: the emulated cloud of `vpngw serve --provider lab`. VMs and
// sites are created through the server (which owns the lab's state); exec
// runs a command inside a lab namespace locally, finding it by the lab's
// deterministic names, so it works without the server (except to look up a
// VM given without -g).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/vpngw/vpngw/internal/client"
	"github.com/vpngw/vpngw/internal/lab"
	"github.com/vpngw/vpngw/internal/resource"
)

// labOptions are the flags every lab command shares.
type labOptions struct {
	// prefix is --lab-prefix (default $VPNGW_LAB_PREFIX, else
	// lab.DefaultPrefix).
	prefix string
}

// names returns the lab's namespace names for the prefix in effect.
func (o *labOptions) names(e *env) (lab.Names, error) {
	p := o.prefix
	if p == "" {
		p = e.getenv("VPNGW_LAB_PREFIX")
	}
	if p == "" {
		p = lab.DefaultPrefix
	}
	if !lab.ValidPrefix(p) {
		return lab.Names{}, usageError{fmt.Errorf("--lab-prefix %q: want a lower-case letter and up to 15 lower-case letters or digits", p)}
	}
	return lab.Names{Prefix: p}, nil
}

// Table output of lab objects.
var (
	labVMColumns = []column{
		col("Name", "name"), col("ResourceGroup", "resourceGroup"), col("IpAddress", "ipAddress"),
		col("Subnet", "subnet"), col("Namespace", "namespace"),
	}
	labSiteColumns = []column{
		col("Name", "name"), col("PublicIp", "publicIp"), col("DeviceIp", "deviceIp"),
		col("HostIp", "hostIp"), col("AddressPrefixes", "addressPrefixes"), col("Namespace", "namespace"),
	}
	labClientColumns = []column{col("Name", "name"), col("PublicIp", "publicIp"), col("Namespace", "namespace")}
	labStatusColumns = []column{
		col("Kind", "kind"), col("Name", "name"), col("Namespace", "namespace"),
		col("Addresses", "addresses"), col("Present", "present"),
	}
)

// addLabCommands attaches "vpngw lab".
func addLabCommands(root *cobra.Command, e *env) {
	g := &globalOptions{}
	o := &labOptions{}
	cmd := newGroup("lab", "Use the emulated cloud: VMs, on-premises sites, commands inside them.",
		`Use the emulated cloud that 'vpngw serve --provider lab' builds on this host
out of network namespaces: an internet (TEST-NET addresses only), a routed
namespace per virtual network, the instances of each virtual network gateway,
and the VMs and on-premises sites added here. See docs/lab.md.

  vpngw lab vm create -g RG --vnet VNET --subnet SUBNET -n VM
  vpngw lab site create -n NAME --public-ip 192.0.2.10 --address-prefixes 10.50.0.0/16
  vpngw lab client create -n laptop1 --public-ip 192.0.2.60
  vpngw lab exec site/NAME -- ipsec statusall
  vpngw lab exec vm/VM -- ping 10.50.0.2
  vpngw lab status
  vpngw lab down

The commands talk to the server at --server, default $VPNGW_URL, else `+DefaultServer+`;
'lab exec' runs locally (as root) and needs the server only to find a VM
given without -g.`)
	addGlobalFlags(cmd, g)
	cmd.PersistentFlags().StringVar(&o.prefix, "lab-prefix", "", "Namespace prefix of the lab. Default: $VPNGW_LAB_PREFIX, else "+lab.DefaultPrefix+".")
	vm := newGroup("vm", "Manage lab VMs.", "Manage lab VMs: namespaces with an address in a virtual network's subnet and a default route into the VNet.")
	vm.AddCommand(labVMCreateCmd(e, g), labVMShowCmd(e, g), labVMListCmd(e, g), labVMDeleteCmd(e, g))
	site := newGroup("site", "Manage lab on-premises sites.", `Manage lab on-premises sites: a VPN device namespace on the lab's internet
(the public IP, and the first address of the first prefix on its LAN side) and
a host namespace behind it (the next address).`)
	site.AddCommand(labSiteCreateCmd(e, g), labShowCmd(e, g, "site", labSitePath, labSiteColumns),
		labListCmd(e, g, "site", labSitePath, labSiteColumns), labDeleteCmd(e, g, "site", labSitePath))
	client := newGroup("client", "Manage lab point-to-site clients.", `Manage lab point-to-site clients: a namespace on the lab's internet with a
public IP (TEST-NET) and no LAN, like a laptop; run a VPN client (strongSwan,
configured from 'vpn-client generate') in it with 'vpngw lab exec client/NAME'.`)
	client.AddCommand(labClientCreateCmd(e, g), labShowCmd(e, g, "client", labClientPath, labClientColumns),
		labListCmd(e, g, "client", labClientPath, labClientColumns), labDeleteCmd(e, g, "client", labClientPath))
	cmd.AddCommand(vm, site, client, labExecCmd(e, g, o), labStatusCmd(e, g), labDownCmd(e, g, o))
	root.AddCommand(cmd)
}

// labCall sends one request to the lab API and returns the body.
func labCall(ctx context.Context, x *invocation, method, path string, body any) ([]byte, error) {
	resp, err := x.api.Do(ctx, method, path, body, nil)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// showLabList prints the "value" of a lab list response.
func showLabList(x *invocation, body []byte, cols []column) error {
	v, err := decodeOutput(body)
	if err != nil {
		return err
	}
	m, _ := v.(map[string]any)
	list, _ := m["value"].([]any)
	if list == nil {
		list = []any{}
	}
	return x.out.print(list, cols)
}

func labVMPath(rg, name string) string {
	return "/lab/v1/vms/" + url.PathEscape(rg) + "/" + url.PathEscape(name)
}

func labVMCreateCmd(e *env, g *globalOptions) *cobra.Command {
	var rg, name, vnet, subnet string
	cmd := leaf(e, g, "create", "Create a VM in a virtual network's subnet (prints its ipAddress).", func(ctx context.Context, x *invocation) error {
		body, err := labCall(ctx, x, http.MethodPut, labVMPath(rg, name), lab.VMRequest{Subscription: x.sub, VNet: vnet, Subnet: subnet})
		if err != nil {
			return err
		}
		return x.show(body, labVMColumns)
	})
	groupFlag(cmd, &rg)
	f := cmd.Flags()
	f.StringVarP(&name, "name", "n", "", "Name of the VM.")
	f.StringVar(&vnet, "vnet", "", "Name of the virtual network (in the same resource group).")
	addAlias(f, "vnet", "vnet-name", "")
	f.StringVar(&subnet, "subnet", "", "Name of the subnet (not GatewaySubnet).")
	required(cmd, "resource-group", "name", "vnet", "subnet")
	return cmd
}

func labVMShowCmd(e *env, g *globalOptions) *cobra.Command {
	var rg, name string
	cmd := leaf(e, g, "show", "Show a VM.", func(ctx context.Context, x *invocation) error {
		body, err := labCall(ctx, x, http.MethodGet, labVMPath(rg, name), nil)
		if err != nil {
			return err
		}
		return x.show(body, labVMColumns)
	})
	groupFlag(cmd, &rg)
	cmd.Flags().StringVarP(&name, "name", "n", "", "Name of the VM.")
	required(cmd, "resource-group", "name")
	return cmd
}

func labVMListCmd(e *env, g *globalOptions) *cobra.Command {
	var rg string
	cmd := leaf(e, g, "list", "List VMs (of one resource group with -g).", func(ctx context.Context, x *invocation) error {
		body, err := labCall(ctx, x, http.MethodGet, "/lab/v1/vms?resourceGroup="+url.QueryEscape(rg), nil)
		if err != nil {
			return err
		}
		return showLabList(x, body, labVMColumns)
	})
	groupFlag(cmd, &rg)
	return cmd
}

func labVMDeleteCmd(e *env, g *globalOptions) *cobra.Command {
	var rg, name string
	cmd := leaf(e, g, "delete", "Delete a VM and the processes inside it.", func(ctx context.Context, x *invocation) error {
		_, err := labCall(ctx, x, http.MethodDelete, labVMPath(rg, name), nil)
		return err
	})
	groupFlag(cmd, &rg)
	cmd.Flags().StringVarP(&name, "name", "n", "", "Name of the VM.")
	required(cmd, "resource-group", "name")
	return cmd
}

func labSitePath(name string) string { return "/lab/v1/sites/" + url.PathEscape(name) }

func labSiteCreateCmd(e *env, g *globalOptions) *cobra.Command {
	var name, publicIP string
	var prefixes []string
	cmd := leaf(e, g, "create", "Create an on-premises site (prints publicIp, deviceIp, hostIp).", func(ctx context.Context, x *invocation) error {
		// Sent as given: the server validates and answers with ARM errors.
		body, err := labCall(ctx, x, http.MethodPut, labSitePath(name), map[string]any{
			"publicIp": publicIP, "addressPrefixes": strs(prefixes),
		})
		if err != nil {
			return err
		}
		return x.show(body, labSiteColumns)
	})
	f := cmd.Flags()
	f.StringVarP(&name, "name", "n", "", "Name of the site: letters, digits and hyphens.")
	f.StringVar(&publicIP, "public-ip", "", "The device's public IP: a TEST-NET address (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24) outside the server's public IP pool.")
	addList(f, &prefixes, "address-prefixes", "", "Space-separated IPv4 prefixes of the site; the first is the LAN between the device and the host.")
	required(cmd, "name", "public-ip", "address-prefixes")
	return cmd
}

// labShowCmd, labListCmd and labDeleteCmd are the show, list and delete
// commands of a kind of lab endpoint (site, client) at path.
func labShowCmd(e *env, g *globalOptions, kind string, path func(string) string, cols []column) *cobra.Command {
	var name string
	cmd := leaf(e, g, "show", "Show a "+kind+".", func(ctx context.Context, x *invocation) error {
		body, err := labCall(ctx, x, http.MethodGet, path(name), nil)
		if err != nil {
			return err
		}
		return x.show(body, cols)
	})
	cmd.Flags().StringVarP(&name, "name", "n", "", "Name of the "+kind+".")
	required(cmd, "name")
	return cmd
}

func labListCmd(e *env, g *globalOptions, kind string, path func(string) string, cols []column) *cobra.Command {
	return leaf(e, g, "list", "List "+kind+"s.", func(ctx context.Context, x *invocation) error {
		body, err := labCall(ctx, x, http.MethodGet, strings.TrimSuffix(path(""), "/"), nil)
		if err != nil {
			return err
		}
		return showLabList(x, body, cols)
	})
}

func labDeleteCmd(e *env, g *globalOptions, kind string, path func(string) string) *cobra.Command {
	var name string
	cmd := leaf(e, g, "delete", "Delete a "+kind+" and the processes inside it.", func(ctx context.Context, x *invocation) error {
		_, err := labCall(ctx, x, http.MethodDelete, path(name), nil)
		return err
	})
	cmd.Flags().StringVarP(&name, "name", "n", "", "Name of the "+kind+".")
	required(cmd, "name")
	return cmd
}

func labClientPath(name string) string { return "/lab/v1/clients/" + url.PathEscape(name) }

func labClientCreateCmd(e *env, g *globalOptions) *cobra.Command {
	var name, publicIP string
	cmd := leaf(e, g, "create", "Create a point-to-site client: a namespace on the internet with a public IP and no LAN (prints publicIp, namespace).", func(ctx context.Context, x *invocation) error {
		body, err := labCall(ctx, x, http.MethodPut, labClientPath(name), map[string]any{"publicIp": publicIP})
		if err != nil {
			return err
		}
		return x.show(body, labClientColumns)
	})
	f := cmd.Flags()
	f.StringVarP(&name, "name", "n", "", "Name of the client: letters, digits and hyphens.")
	f.StringVar(&publicIP, "public-ip", "", "The client's public IP: a TEST-NET address (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24) outside the server's public IP pool.")
	required(cmd, "name", "public-ip")
	return cmd
}

func labStatusCmd(e *env, g *globalOptions) *cobra.Command {
	return leaf(e, g, "status", "Show the lab's topology: namespaces, addresses, routes, processes.", func(ctx context.Context, x *invocation) error {
		body, err := labCall(ctx, x, http.MethodGet, "/lab/v1/status", nil)
		if err != nil {
			return err
		}
		if (x.out.format == "table" || x.out.format == "tsv") && x.out.query == nil {
			var st lab.Status
			if err := json.Unmarshal(body, &st); err != nil {
				return fmt.Errorf("decoding the server's response: %w", err)
			}
			return x.out.print(statusRows(st), labStatusColumns)
		}
		return x.show(body, nil)
	})
}

// statusRows flattens a status into one row per namespace for table
// output.
func statusRows(st lab.Status) []any {
	row := func(kind, name, ns string, present bool, addrs ...string) any {
		return map[string]any{"kind": kind, "name": name, "namespace": ns, "present": present, "addresses": strings.Join(addrs, " ")}
	}
	var rows []any
	if in := st.Internet; in != nil {
		var addrs []string
		for _, p := range in.PublicIPs {
			addrs = append(addrs, p.Address.String())
		}
		rows = append(rows, row("internet", "", in.Namespace, in.Present, addrs...))
	}
	for _, v := range st.VNets {
		var addrs []string
		for _, p := range v.AddressSpace {
			addrs = append(addrs, p.String())
		}
		for _, r := range v.Routes {
			addrs = append(addrs, r.Prefix.String()+"->"+r.Via.String())
		}
		rows = append(rows, row("vnet", v.ID, v.Namespace, v.Present, addrs...))
	}
	for _, g := range st.Gateways {
		for _, i := range g.Instances {
			addrs := []string{i.Address.String()}
			for _, p := range i.PublicIPs {
				addrs = append(addrs, p.String())
			}
			rows = append(rows, row("gateway", g.ID+"#"+strconv.Itoa(i.Instance), i.Namespace, i.Present, addrs...))
		}
	}
	for _, vm := range st.VMs {
		rows = append(rows, row("vm", vm.ResourceGroup+"/"+vm.Name, vm.Namespace, vm.Present, vm.IPAddress.String()))
	}
	for _, s := range st.Sites {
		rows = append(rows, row("site", s.Name, s.Namespace, s.Present, s.PublicIP.String(), s.DeviceIP.String()))
		rows = append(rows, row("site-host", s.Name, s.HostNamespace, s.Present, s.HostIP.String()))
	}
	for _, c := range st.Clients {
		rows = append(rows, row("client", c.Name, c.Namespace, c.Present, c.PublicIP.String()))
	}
	for _, p := range st.Processes {
		state := "running"
		if !p.Running {
			state = "stopped"
		}
		rows = append(rows, row("process", p.Name, p.Namespace, p.Running, "pid "+strconv.Itoa(p.PID), state))
	}
	for _, ns := range st.StrayNamespaces {
		rows = append(rows, row("stray", "", ns, true))
	}
	return rows
}

func labDownCmd(e *env, g *globalOptions, o *labOptions) *cobra.Command {
	var local, force bool
	var dataDir string
	cmd := leaf(e, g, "down", "Remove the whole lab: stop its processes and delete its namespaces.", func(ctx context.Context, x *invocation) error {
		if !local {
			_, err := labCall(ctx, x, http.MethodPost, "/lab/v1/down", nil)
			ce, ok := client.AsError(err)
			if !force || !ok || ce.StatusCode != http.StatusConflict || len(ce.Details) == 0 {
				return err
			}
			// --force: delete the resource groups the server realizes
			// in the lab through the API (as 'group delete' does), then
			// take the lab down. Connections go first: a VNet-to-VNet
			// connection in one group holds a gateway in another, which
			// would refuse that group's deletion.
			for _, d := range ce.Details {
				items, err := x.api.List(ctx, d.Target+"/providers/Microsoft.Network/connections")
				if err != nil && !errors.Is(err, client.ErrNotFound) {
					return fmt.Errorf("listing the connections of %s: %w", d.Target, err)
				}
				for _, it := range items {
					var c struct {
						ID string `json:"id"`
					}
					if json.Unmarshal(it, &c) != nil || c.ID == "" {
						continue
					}
					p, err := x.api.Delete(ctx, c.ID, nil)
					if err == nil {
						err = p.Wait(ctx, nil)
					}
					if err != nil && !errors.Is(err, client.ErrNotFound) {
						return fmt.Errorf("deleting connection %s: %w", c.ID, err)
					}
				}
			}
			for _, d := range ce.Details {
				p, err := x.api.Delete(ctx, d.Target, nil)
				if err == nil {
					err = p.Wait(ctx, nil)
				}
				if err != nil && !errors.Is(err, client.ErrNotFound) {
					return fmt.Errorf("deleting resource group %s: %w", d.Target, err)
				}
			}
			_, err = labCall(ctx, x, http.MethodPost, "/lab/v1/down", nil)
			return err
		}
		names, err := o.names(e)
		if err != nil {
			return err
		}
		dir := dataDir
		if dir == "" {
			if dir, err = defaultDataDir(e); err != nil {
				return err
			}
		}
		l, err := lab.Open(lab.Options{Dir: filepath.Join(dir, "lab"), Prefix: names.Prefix})
		if errors.Is(err, lab.ErrLocked) {
			return fmt.Errorf("%w; while the server runs, use 'vpngw lab down' without --local", err)
		}
		if err != nil {
			return err
		}
		defer l.Close()
		return l.Down(ctx)
	})
	f := cmd.Flags()
	f.BoolVar(&force, "force", false, "While resources exist (the server would build them again, so down is refused): delete their resource groups through the API first.")
	f.BoolVar(&local, "local", false, "Do it here, without the server (which must not be running): stop the processes recorded in the lab's state and delete every namespace with the lab's prefix.")
	f.StringVar(&dataDir, "data-dir", "", "With --local: the server's --data-dir (the lab's state is in its lab/ directory).")
	return cmd
}

// labExecCmd is "vpngw lab exec TARGET -- CMD...". It parses its flags
// normally (everything after "--" is the command) and passes the command's
// exit code through.
func labExecCmd(e *env, g *globalOptions, o *labOptions) *cobra.Command {
	var rg string
	cmd := &cobra.Command{
		Use:   "exec TARGET -- COMMAND [ARG...]",
		Short: "Run a command inside a lab namespace (the exit code is the command's).",
		Long: `Run a command inside a lab namespace, with this terminal's stdin, stdout and
stderr; the exit code is the command's. Needs root (it uses 'ip netns exec').

Targets:
  site/NAME          the site's VPN device (run an IPsec daemon here)
  site/NAME/host     the host behind the site's device
  client/NAME        a point-to-site client (run its VPN client here)
  vm/NAME            a lab VM (-g RG, or the server finds the only VM of that name)
  gw/NAME[/N]        instance N (default 0) of a virtual network gateway (-g RG)
  vnet/NAME          a virtual network's router (-g RG)
  inet               the internet router

Put -- before the command when it has flags of its own.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) < 2 {
				return usageError{errors.New("want a target and a command: vpngw lab exec TARGET -- COMMAND [ARG...]")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			names, err := o.names(e)
			if err != nil {
				return err
			}
			ns, err := execTarget(cmd.Context(), e, g, names, rg, args[0])
			if err != nil {
				return err
			}
			if !lab.Exists(ns) {
				return exitError{code: ExitNotFound, err: fmt.Errorf("%s: namespace %s does not exist (is the lab up? is --lab-prefix right?)", args[0], ns)}
			}
			return runIn(e, ns, args[1:])
		},
	}
	cmd.Flags().StringVarP(&rg, "resource-group", "g", "", "Resource group of a vm/, gw/ or vnet/ target.")
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%w (put -- before the command if the flag is the command's)", err)}
	})
	return cmd
}

// execTarget resolves an exec target to a namespace name.
func execTarget(ctx context.Context, e *env, g *globalOptions, names lab.Names, rg, target string) (string, error) {
	parts := strings.Split(target, "/")
	bad := usageError{fmt.Errorf("target %q: want site/NAME, site/NAME/host, client/NAME, vm/NAME, gw/NAME[/N], vnet/NAME or inet", target)}
	for _, p := range parts {
		if p == "" {
			return "", bad
		}
	}
	sub := g.subscription
	if sub == "" {
		sub = e.getenv("VPNGW_SUBSCRIPTION")
	}
	if sub == "" {
		sub = resource.DefaultSubscription
	}
	needGroup := func() error {
		if rg == "" {
			return usageError{fmt.Errorf("target %q needs -g/--resource-group", target)}
		}
		return nil
	}
	switch {
	case len(parts) == 1 && parts[0] == "inet":
		return names.Internet(), nil
	case parts[0] == "site" && len(parts) == 2:
		return names.SiteDevice(parts[1]), nil
	case parts[0] == "site" && len(parts) == 3 && parts[2] == "host":
		return names.SiteHost(parts[1]), nil
	case parts[0] == "client" && len(parts) == 2:
		return names.Client(parts[1]), nil
	case parts[0] == "vm" && len(parts) == 2:
		if rg != "" {
			return names.VM(rg, parts[1]), nil
		}
		return findVM(ctx, e, g, parts[1])
	case parts[0] == "gw" && (len(parts) == 2 || len(parts) == 3):
		if err := needGroup(); err != nil {
			return "", err
		}
		i := 0
		if len(parts) == 3 {
			n, err := strconv.Atoi(parts[2])
			if err != nil || n < 0 || n >= lab.MaxInstances {
				return "", bad
			}
			i = n
		}
		id := resource.ID{Subscription: sub, ResourceGroup: rg, Type: resource.TypeVirtualNetworkGateways, Name: parts[1]}
		return names.GatewayInstance(id.String(), i), nil
	case parts[0] == "vnet" && len(parts) == 2:
		if err := needGroup(); err != nil {
			return "", err
		}
		id := resource.ID{Subscription: sub, ResourceGroup: rg, Type: resource.TypeVirtualNetworks, Name: parts[1]}
		return names.VNet(id.String()), nil
	}
	return "", bad
}

// findVM asks the server for the VM named name in any resource group.
func findVM(ctx context.Context, e *env, g *globalOptions, name string) (string, error) {
	cmd := &cobra.Command{}
	x, err := prepare(e, g, cmd, nil)
	if err != nil {
		return "", err
	}
	body, err := labCall(ctx, x, http.MethodGet, "/lab/v1/vms", nil)
	if err != nil {
		ferr := x.fail(err)
		code := ExitError
		var ee exitError
		if errors.As(ferr, &ee) {
			code = ee.code
		}
		return "", exitError{code: code, err: fmt.Errorf("vm/%s without -g needs the server to find the VM (give -g to do without): %v", name, ferr)}
	}
	var list lab.List[lab.VM]
	if err := json.Unmarshal(body, &list); err != nil {
		return "", fmt.Errorf("decoding the server's response: %w", err)
	}
	var found []lab.VM
	for _, vm := range list.Value {
		if strings.EqualFold(vm.Name, name) {
			found = append(found, vm)
		}
	}
	switch len(found) {
	case 0:
		return "", exitError{code: ExitNotFound, err: fmt.Errorf("no lab VM is named %s", name)}
	case 1:
		return found[0].Namespace, nil
	}
	var groups []string
	for _, vm := range found {
		groups = append(groups, vm.ResourceGroup)
	}
	return "", usageError{fmt.Errorf("VMs named %s exist in resource groups %s; give -g", name, strings.Join(groups, ", "))}
}

// runIn runs argv in namespace ns with the CLI's stdio and returns its exit
// code as an exitError (nil for 0). SIGINT reaches the command (it shares
// the terminal); the CLI waits for it instead of dying first.
func runIn(e *env, ns string, argv []string) error {
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, argv...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = e.stdin, e.stdout, e.stderr
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	defer signal.Stop(sig)
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ee):
		code := ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal()) // as a shell reports it
		}
		return exitError{code: code}
	}
	return exitError{code: ExitError, err: fmt.Errorf("ip netns exec %s: %w", ns, err)}
}
