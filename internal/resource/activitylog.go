package resource

import "net/url"

// The activity log is Azure Monitor's, not Microsoft.Network's: its path
// and api-version are shared here by the API that serves it and the
// clients (CLI, portal) that read it.

// ActivityLogAPIVersion is the api-version of the activity log.
const ActivityLogAPIVersion = "2015-04-01"

// activityLogSuffix follows /subscriptions/{id} in the activity log's path.
const activityLogSuffix = "/providers/Microsoft.Insights/eventtypes/management/values"

// ActivityLogPath is the path of subscription sub's activity log; sub ""
// gives the route pattern's tail.
func ActivityLogPath(sub string) string {
	if sub == "" {
		return activityLogSuffix
	}
	return "/subscriptions/" + url.PathEscape(sub) + activityLogSuffix
}
