package agentapi

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/vpngw/vpngw/internal/tunstat"
)

// scaleStatus is a status with n connected point-to-site clients, each
// with one IKE SA, one Child SA and traffic counters (what an instance
// with n clients reports).
func scaleStatus(n int) Status {
	st := populatedStatus()
	st.PointToSite = &PointToSiteStatus{Name: "p2s", AddressPool: []string{"172.16.0.0/16"}, PoolSize: 65534, LeasedAddresses: n}
	tmpl := st.Connections[0]
	for i := range n {
		c := tmpl
		c.Name = fmt.Sprintf("p2s/user%d/172.16.%d.%d", i, i/250, i%250+1)
		c.Client = &tunstat.ClientStatus{User: fmt.Sprintf("user%d", i), VirtualIP: netip.AddrFrom4([4]byte{172, 16, byte(i / 250), byte(i%250 + 1)})}
		tr := *c.Traffic
		c.Traffic = &tr
		st.PointToSite.Clients = append(st.PointToSite.Clients, c)
	}
	return st
}

// BenchmarkReportJSON measures a full report's size and the encode and
// decode work per report with N clients: what every heartbeat cost both
// sides before reports were versioned, and what a changed status costs
// now (a heartbeat's is constant: reconcile's
// TestHeartbeatWorkIndependentOfTunnels).
func BenchmarkReportJSON(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		rep := Report{Revision: 1, Status: scaleStatus(n)}
		body, _ := json.Marshal(rep)
		b.Run(fmt.Sprintf("clients=%d/encode", n), func(b *testing.B) {
			for b.Loop() {
				_, _ = json.Marshal(rep)
			}
			b.ReportMetric(float64(len(body)), "bytes/report")
		})
		b.Run(fmt.Sprintf("clients=%d/decode", n), func(b *testing.B) {
			for b.Loop() {
				var r Report
				_ = json.Unmarshal(body, &r)
			}
		})
	}
}

// BenchmarkDeltaApply measures the hub's merge of a delta of one changed
// client into a status of 10,000: Apply (a new list) against ApplyOwned
// (in place).
func BenchmarkDeltaApply(b *testing.B) {
	st := scaleStatus(10000)
	slices.SortFunc(st.PointToSite.Clients, func(a, b ConnectionStatus) int { return strings.Compare(a.Name, b.Name) })
	c := st.PointToSite.Clients[5000]
	c.State = "connecting"
	d := StatusDelta{Gateway: Status{Name: st.Name, PointToSite: &PointToSiteStatus{Name: "p2s"}}, Clients: []ConnectionStatus{c}}
	b.Run("Apply", func(b *testing.B) {
		for range b.N {
			if out := d.Apply(st); len(out.PointToSite.Clients) != 10000 {
				b.Fatal(len(out.PointToSite.Clients))
			}
		}
	})
	b.Run("ApplyOwned", func(b *testing.B) {
		cur := st
		for range b.N {
			if cur = d.ApplyOwned(cur); len(cur.PointToSite.Clients) != 10000 {
				b.Fatal(len(cur.PointToSite.Clients))
			}
		}
	})
}
