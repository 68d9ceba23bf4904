package cli

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vpngw/vpngw/internal/client"
)

// groupColumns is the table output of resource groups.
var groupColumns = []column{
	col("Name", "name"),
	col("Location", "location"),
	col("ProvisioningState", "properties.provisioningState"),
}

// addGroupCommands attaches "vpngw group", az's "az group".
func addGroupCommands(root *cobra.Command, e *env) {
	g := &globalOptions{}
	grp := newGroup("group", "Manage resource groups.", "Manage resource groups: the containers that hold related network resources.")
	addGlobalFlags(grp, g)
	grp.AddCommand(
		groupCreateCmd(e, g),
		groupShowCmd(e, g),
		groupListCmd(e, g),
		groupExistsCmd(e, g),
		groupDeleteCmd(e, g),
	)
	root.AddCommand(grp)
}

// groupLeaf is leaf for resource group commands, which print resource
// groups as az does: with "properties" kept.
func groupLeaf(e *env, g *globalOptions, use, short string, run func(context.Context, *invocation) error) *cobra.Command {
	return leaf(e, g, use, short, func(ctx context.Context, x *invocation) error {
		x.flatten = false
		return run(ctx, x)
	})
}

// groupNameFlag adds -n/--name with az's alias -g/--resource-group.
func groupNameFlag(cmd *cobra.Command, name *string) {
	f := cmd.Flags()
	f.StringVarP(name, "name", "n", "", "Name of the resource group (az's alias -g/--resource-group also works).")
	addAlias(f, "name", "resource-group", "g")
}

func groupCreateCmd(e *env, g *globalOptions) *cobra.Command {
	var name, location string
	var tags []string
	cmd := groupLeaf(e, g, "create", "Create a new resource group.", func(ctx context.Context, x *invocation) error {
		t, err := tagsOf(tags)
		if err != nil {
			return err
		}
		body := map[string]any{"location": location, "tags": t}
		p, err := x.api.Put(ctx, x.groupPath(name), body, nil)
		if err != nil {
			return err
		}
		return x.finish(ctx, p, false, true, groupColumns)
	})
	cmd.Example = "  vpngw group create -l westeurope -n MyResourceGroup"
	groupNameFlag(cmd, &name)
	f := cmd.Flags()
	f.StringVarP(&location, "location", "l", "", "Location, e.g. westeurope.")
	addList(f, &tags, "tags", "", `Space-separated tags: key[=value] [key[=value] ...]. Use "" to clear existing tags.`)
	required(cmd, "name", "location")
	return cmd
}

func groupShowCmd(e *env, g *globalOptions) *cobra.Command {
	var name string
	cmd := groupLeaf(e, g, "show", "Get a resource group.", func(ctx context.Context, x *invocation) error {
		resp, err := x.api.Get(ctx, x.groupPath(name), nil)
		if err != nil {
			return err
		}
		return x.show(resp.Body, groupColumns)
	})
	groupNameFlag(cmd, &name)
	required(cmd, "name")
	return cmd
}

func groupListCmd(e *env, g *globalOptions) *cobra.Command {
	cmd := groupLeaf(e, g, "list", "List resource groups.", func(ctx context.Context, x *invocation) error {
		return x.list(ctx, "/subscriptions/"+x.sub+"/resourcegroups", groupColumns)
	})
	return cmd
}

func groupExistsCmd(e *env, g *globalOptions) *cobra.Command {
	var name string
	cmd := groupLeaf(e, g, "exists", "Check if a resource group exists.", func(ctx context.Context, x *invocation) error {
		_, err := x.api.Get(ctx, x.groupPath(name), nil)
		if ae, ok := client.AsError(err); ok && ae.StatusCode == http.StatusNotFound {
			fmt.Fprintln(x.e.stdout, "false")
			return nil
		}
		if err != nil {
			return err
		}
		fmt.Fprintln(x.e.stdout, "true")
		return nil
	})
	groupNameFlag(cmd, &name)
	required(cmd, "name")
	return cmd
}

func groupDeleteCmd(e *env, g *globalOptions) *cobra.Command {
	var name string
	var yes, noWait bool
	cmd := groupLeaf(e, g, "delete", "Delete a resource group and every resource in it.", func(ctx context.Context, x *invocation) error {
		if !yes {
			ok, err := confirm(x, fmt.Sprintf("Are you sure you want to perform this operation? Resource group '%s' and all its resources will be deleted. (y/n): ", name))
			if err != nil || !ok {
				return err
			}
		}
		p, err := x.api.Delete(ctx, x.groupPath(name), nil)
		if err != nil {
			return err
		}
		return x.finish(ctx, p, noWait, false, nil)
	})
	cmd.Long = `Delete a resource group and every resource in it: connections, gateways, local
network gateways, public IP addresses, then virtual networks.`
	groupNameFlag(cmd, &name)
	f := cmd.Flags()
	f.BoolVarP(&yes, "yes", "y", false, "Do not prompt for confirmation.")
	f.BoolVar(&noWait, "no-wait", false, "Do not wait for the long-running operation to finish.")
	required(cmd, "name")
	return cmd
}

// confirm asks a yes/no question on a terminal; without one it refuses, as
// az does, and points at --yes.
func confirm(x *invocation, question string) (bool, error) {
	if !isTerminal(x.e.stdin) {
		return false, usageError{fmt.Errorf("unable to prompt for confirmation as no tty is available; use --yes")}
	}
	fmt.Fprint(x.e.stderr, question)
	line, _ := bufio.NewReader(x.e.stdin).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}
