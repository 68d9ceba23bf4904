package agentapi

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/tunstat"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json")

// populatedStatus sets every field of a Status, down to the per-SA drop
// counters, plus a second connection that is down (nil traffic, empty SAs).
func populatedStatus() Status {
	t0 := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	counters := tunstat.Counters{Packets: 11, Bytes: 1100, Dummy: 1}
	for i := range counters.Drops {
		counters.Drops[i] = uint64(100 + i)
	}
	return Status{
		Name:         "gw-0",
		LocalAddress: "192.0.2.10",
		TUN:          "vpngw0",
		Started:      t0,
		Connections: []ConnectionStatus{{
			PeerStatus: tunstat.PeerStatus{
				Name:      "site-a",
				State:     "established",
				Remote:    netip.MustParseAddrPort("198.51.100.7:4500"),
				Mode:      "initiator",
				LastError: "previous attempt: timeout",
				UpSince:   t0.Add(time.Minute),
				IKE: []tunstat.IKESAStatus{{
					SPIi: "0102030405060708", SPIr: "1112131415161718", Initiator: true, State: "established",
					Local:  netip.MustParseAddrPort("192.0.2.10:4500"),
					Remote: netip.MustParseAddrPort("198.51.100.7:4500"),
					Suite:  "AES-GCM-256/PRF-HMAC-SHA384/DH20", NATLocal: true, NATRemote: false, Encap: true,
					Established: t0.Add(time.Minute), RekeyAt: t0.Add(8 * time.Hour),
					Children: []tunstat.ChildSAStatus{{
						InSPI: "c0000001", OutSPI: "c0000002", State: "installed", Suite: "AES-GCM-256",
						LocalTS: "10.1.0.0/16", RemoteTS: "10.2.0.0/16", Outbound: true,
						Established: t0.Add(2 * time.Minute), RekeyAt: t0.Add(time.Hour),
					}},
				}},
			},
			Status:         Connected,
			RemotePrefixes: []string{"10.2.0.0/16", "fd00:2::/48"},
			IngressBytes:   4096,
			EgressBytes:    8192,
			LastConnected:  t0.Add(time.Minute),
			Traffic: &tunstat.TunnelStats{
				ID:        "site-a",
				TxPackets: 1, TxBytes: 2, RxPackets: 3, RxBytes: 4,
				DropNoSA: 5, DropSend: 6, DropRateLimit: 7, Keepalives: 8,
				LastReceived: t0.Add(3 * time.Minute), LastKeepalive: t0.Add(4 * time.Minute),
				SAs: []tunstat.SAStats{
					{SPI: 0xc0000002, Counters: counters},
					{SPI: 0xc0000001, Inbound: true, Counters: tunstat.Counters{Packets: 9}},
				},
			},
		}, {
			PeerStatus: tunstat.PeerStatus{Name: "site-b", State: "down", Mode: "responder"},
			Status:     NotConnected,
		}},
		Dataplane: &tunstat.Stats{
			NoRoute: 1, UnknownSPI: 2, Malformed: 3, IKEIn: 4, IKEOut: 5, Keepalives: 6, EventsDropped: 7, TUNWriteErrs: 8,
		},
	}
}

// TestStatusJSON pins the JSON of a Status: the wire form (a Report's
// status, json.Marshal) and `vpngw agent --status --json` (indented). The
// golden file was produced before the status types moved to package
// tunstat; it must not change.
func TestStatusJSON(t *testing.T) {
	st := populatedStatus()
	golden := filepath.Join("testdata", "status.golden.json")
	var indented bytes.Buffer
	enc := json.NewEncoder(&indented)
	enc.SetIndent("", "  ")
	if err := enc.Encode(st); err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(golden, indented.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(indented.Bytes(), want) {
		t.Errorf("indented status JSON differs from %s:\n%s", golden, indented.Bytes())
	}
	wire, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, want); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(wire, compact.Bytes()) {
		t.Errorf("wire status JSON differs from %s:\n got %s\nwant %s", golden, wire, compact.Bytes())
	}
	var back Status
	if err := json.Unmarshal(want, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, st) {
		t.Errorf("decoding %s:\n got %+v\nwant %+v", golden, back, st)
	}
}
