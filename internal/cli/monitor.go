package cli

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vpngw/vpngw/internal/resource"
)

// addMonitorCommands attaches "vpngw monitor activity-log", az's
// "az monitor activity-log".
func addMonitorCommands(root *cobra.Command, e *env) {
	g := &globalOptions{}
	monitor := newGroup("monitor", "Monitor the vpngw API's resources.", `Monitor the vpngw API's resources in the style of 'az monitor'.`)
	addGlobalFlags(monitor, g)
	log := newGroup("activity-log", "Manage activity logs.", `Read the activity log: the long-running operations started on the
subscription's resources (from any client: the CLI, the portal, scripts) and
the writes the API refused, with who asked, the status and the ARM error.
The server keeps the last 500 entries in memory.`)
	log.AddCommand(activityLogListCmd(e, g))
	monitor.AddCommand(log)
	root.AddCommand(monitor)
}

// activityCols are the table columns of activity-log list.
var activityCols = []column{
	col("EventTimestamp", "eventTimestamp"),
	col("Caller", "caller"),
	col("OperationName", "operationName.localizedValue"),
	col("Status", "status.value"),
	col("ResourceGroup", "resourceGroupName"),
	col("ResourceId", "resourceId"),
}

func activityLogListCmd(e *env, g *globalOptions) *cobra.Command {
	var rg, resourceID, start, end string
	var offset time.Duration
	var maxEvents int
	cmd := leaf(e, g, "list", "List and query activity log events.", func(ctx context.Context, x *invocation) error {
		to := time.Now().UTC()
		if end != "" {
			t, err := time.Parse(time.RFC3339, end)
			if err != nil {
				return usageError{fmt.Errorf("--end-time: want an RFC 3339 time, e.g. 2024-05-01T12:00:00Z")}
			}
			to = t
		}
		from := to.Add(-offset)
		if start != "" {
			t, err := time.Parse(time.RFC3339, start)
			if err != nil {
				return usageError{fmt.Errorf("--start-time: want an RFC 3339 time, e.g. 2024-05-01T12:00:00Z")}
			}
			from = t
		}
		filter := fmt.Sprintf("eventTimestamp ge '%s' and eventTimestamp le '%s'", from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano))
		if rg != "" {
			filter += " and resourceGroupName eq '" + rg + "'"
		}
		if resourceID != "" {
			filter += " and resourceUri eq '" + strings.TrimSuffix(resourceID, "/") + "'"
		}
		items, err := x.api.List(ctx, resource.ActivityLogPath(x.sub)+"?$filter="+url.QueryEscape(filter)+
			"&api-version="+resource.ActivityLogAPIVersion)
		if err != nil {
			return err
		}
		raw := make([][]byte, 0, len(items))
		for _, it := range items[:min(len(items), maxEvents)] {
			raw = append(raw, it)
		}
		return x.showList(raw, activityCols)
	})
	cmd.Long = `List activity log events, newest first: one per long-running operation
(status Started while it runs, then Succeeded or Failed with the ARM error in
properties.statusMessage) and one per refused write (Failed). The time range
is --start-time to --end-time, by default the last --offset (6 hours).`
	cmd.Example = `  vpngw monitor activity-log list -g MyResourceGroup --offset 1h -o table`
	f := cmd.Flags()
	f.StringVarP(&rg, "resource-group", "g", "", "Name of resource group.")
	f.StringVar(&resourceID, "resource-id", "", "ID of the resource.")
	f.StringVar(&start, "start-time", "", "Start time of the query, RFC 3339 (default: --end-time minus --offset).")
	f.StringVar(&end, "end-time", "", "End time of the query, RFC 3339 (default: now).")
	f.DurationVar(&offset, "offset", 6*time.Hour, "Time offset of the query range, e.g. 1h, 30m.")
	f.IntVar(&maxEvents, "max-events", 50, "Maximum number of records to be returned.")
	return cmd
}
