package cli

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/vpngw/vpngw/internal/agent"
	"github.com/vpngw/vpngw/internal/tunstat"
)

// fakeAgentSocket serves GET /status on a Unix socket the way an agent with
// n point-to-site clients does (agent.ParseStatusQuery, then the clients
// the query picks; the name is the only term it matches), and records each
// request's query.
func fakeAgentSocket(t *testing.T, n int) (sock string, queries func() []string) {
	t.Helper()
	sock = filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []string
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.RawQuery)
		mu.Unlock()
		q, err := agent.ParseStatusQuery(r.URL.Query())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		st := agent.Status{Name: "gw", Connections: []agent.ConnectionStatus{{PeerStatus: tunstat.PeerStatus{Name: "hq"}, Status: "Connected"}},
			PointToSite: &agent.PointToSiteStatus{Name: "p2s", ClientCount: n}}
		for i := range n {
			name := fmt.Sprintf("p2s/user%05d/172.16.%d.%d", i, i>>8, i&0xff)
			picked := !q.NoClients && len(q.Clients) == 0
			for _, c := range q.Clients {
				picked = picked || c == name
			}
			if picked {
				st.PointToSite.Clients = append(st.PointToSite.Clients, agent.ConnectionStatus{Status: "Connected",
					PeerStatus: tunstat.PeerStatus{Name: name, Client: &tunstat.ClientStatus{User: fmt.Sprintf("user%05d", i), VirtualIP: netip.AddrFrom4([4]byte{172, 16, byte(i >> 8), byte(i)})}}})
			}
		}
		_ = json.NewEncoder(w).Encode(st)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return sock, func() []string {
		mu.Lock()
		defer mu.Unlock()
		out := seen
		seen = nil
		return out
	}
}

// TestAgentStatusClients: `vpngw agent --status` lists a few clients, and
// for a gateway with many prints their count and asks the agent for the
// summary alone; --clients and --client choose; -o json lists them all.
func TestAgentStatusClients(t *testing.T) {
	few, fewQueries := fakeAgentSocket(t, 3)
	many, manyQueries := fakeAgentSocket(t, autoClients+1)
	for _, c := range []struct {
		name    string
		sock    string
		queries func() []string
		args    []string
		asked   []string // the queries the agent saw, in order
		want    []string
		notWant []string
	}{
		{"few: listed", few, fewQueries, nil, []string{"clients=none", ""},
			[]string{"3 clients", "p2s/user00002/172.16.0.2"}, []string{"not listed", "Clients listed"}},
		{"many: counted", many, manyQueries, nil, []string{"clients=none"},
			[]string{"101 clients", "Clients listed: 0 of 101", "101 point-to-site clients, not listed: --clients all"}, []string{"p2s/user00000"}},
		{"many: --clients all", many, manyQueries, []string{"--clients", "all"}, []string{""},
			[]string{"p2s/user00000/172.16.0.0", "p2s/user00100/172.16.0.100"}, []string{"not listed", "Clients listed"}},
		{"few: --clients none", few, fewQueries, []string{"--clients", "none"}, []string{"clients=none"},
			[]string{"Clients listed: 0 of 3"}, []string{"p2s/user00000", "not listed:"}},
		{"many: --client", many, manyQueries, []string{"--client", "p2s/user00042/172.16.0.42", "--client", "p2s/user00007/172.16.0.7"},
			[]string{"client=p2s%2Fuser00042%2F172.16.0.42&client=p2s%2Fuser00007%2F172.16.0.7"},
			[]string{"Clients listed: 2 of 101", "p2s/user00042/172.16.0.42", "p2s/user00007/172.16.0.7"}, []string{"p2s/user00000", "not listed:"}},
		{"many: json", many, manyQueries, []string{"-o", "json"}, []string{""},
			[]string{`"clientCount": 101`, `"name": "p2s/user00100/172.16.0.100"`}, nil},
		{"many: json summary", many, manyQueries, []string{"-o", "json", "--clients", "none"}, []string{"clients=none"},
			[]string{`"clientCount": 101`}, []string{"p2s/user"}},
	} {
		args := append([]string{"agent", "--status", "--socket", c.sock}, c.args...)
		out := mustRun(t, nil, args...)
		if got := c.queries(); strings.Join(got, " | ") != strings.Join(c.asked, " | ") {
			t.Errorf("%s: the agent was asked %q, want %q", c.name, got, c.asked)
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: output lacks %q:\n%s", c.name, w, out)
			}
		}
		for _, w := range c.notWant {
			if strings.Contains(out, w) {
				t.Errorf("%s: output has %q:\n%s", c.name, w, out)
			}
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--clients", "some"}, `--clients "some": want all, none or auto`},
		{[]string{"--clients", "none", "--client", "alice"}, "--client with --clients none"},
		{[]string{"-o", "yaml"}, `--output "yaml": want table or json`},
	} {
		code, _, errOut := run(t, nil, append([]string{"agent", "--status", "--socket", few}, c.args...)...)
		if code == 0 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want a refusal naming %q", c.args, code, errOut, c.want)
		}
	}
	if q := fewQueries(); len(q) != 0 {
		t.Errorf("refused invocations asked the agent %q", q)
	}
}
