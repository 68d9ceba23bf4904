package main

import (
	"strings"
	"testing"
)

func TestFillFlows(t *testing.T) {
	for _, tt := range []struct {
		name               string
		r                  sinkResult
		gbps, minMb, maxMb float64
		carrying           int
	}{
		{"two flows", sinkResult{Seconds: 2, FlowBytes: []int64{250e6, 1e6 - 1}}, 1.003999996, 3.999996, 1000, 1},
		{"no window", sinkResult{Seconds: 0, FlowBytes: []int64{1e9}}, 0, 0, 0, 0},
		{"no flow", sinkResult{Seconds: 1}, 0, 0, 0, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var s FlowsSample
			fillFlows(&s, tt.r)
			if !near(s.Gbps, tt.gbps) || !near(s.MinFlowMbps, tt.minMb) || !near(s.MaxFlowMbps, tt.maxMb) || s.FlowsCarrying != tt.carrying {
				t.Errorf("got %.6f Gbit/s, %.6f-%.6f Mbit/s, %d carrying", s.Gbps, s.MinFlowMbps, s.MaxFlowMbps, s.FlowsCarrying)
			}
		})
	}
}

// TestFlowsReportRatios: each repeat's N-tunnel figure is divided by the
// same repeat's one-tunnel figures of the same encapsulation, and vpngw's
// figures by wireguard-go's of the same repeat and shape; failed samples
// are listed and left out.
func TestFlowsReportRatios(t *testing.T) {
	dir := t.TempDir()
	for _, s := range []FlowsSample{
		{Repeat: 1, Mode: "vpngw-udp-1flow", Tunnels: 1, Flows: 1, Gbps: 2},
		{Repeat: 1, Mode: "vpngw-udp-1", Tunnels: 1, Flows: 100, Gbps: 1},
		{Repeat: 1, Mode: "vpngw-udp-100", Tunnels: 100, Flows: 100, Gbps: 0.8},
		{Repeat: 2, Mode: "vpngw-udp-1flow", Tunnels: 1, Flows: 1, Gbps: 1},
		{Repeat: 2, Mode: "vpngw-udp-1", Tunnels: 1, Flows: 100, Gbps: 2},
		{Repeat: 2, Mode: "vpngw-udp-100", Tunnels: 100, Flows: 100, Gbps: 2},
		{Repeat: 3, Mode: "vpngw-udp-100", Tunnels: 100, Flows: 100, Error: "tunnels did not come up"},
		{Repeat: 1, Mode: "vpngw-before-esp-1", Tunnels: 1, Flows: 100, Gbps: 1},
		{Repeat: 1, Mode: "plain-1flow", Tunnels: 0, Flows: 1, Gbps: 8},
		{Repeat: 1, Mode: "plain-100", Tunnels: 0, Flows: 100, Gbps: 10},
		{Repeat: 1, Mode: "vpngw-before-esp-100", Tunnels: 100, Flows: 100, Gbps: 0.5},
		{Repeat: 1, Mode: "wireguard-go-1flow", Tunnels: 1, Flows: 1, Gbps: 1},
		{Repeat: 1, Mode: "wireguard-go-1", Tunnels: 1, Flows: 100, Gbps: 0.5},
		{Repeat: 2, Mode: "wireguard-go-1flow", Tunnels: 1, Flows: 1, Gbps: 0.5},
		{Repeat: 2, Mode: "wireguard-go-1", Tunnels: 1, Flows: 100, Gbps: 0.4},
	} {
		if err := appendJSONLine(dir, flowsFile, s); err != nil {
			t.Fatal(err)
		}
	}
	var b strings.Builder
	if err := writeFlowsReport(dir, &b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"failed: vpngw-udp-100 r3: tunnels did not come up",
		"| vpngw-udp     | N tunnels / the same N flows through 1 tunnel | 0.90   | 0.80, 1.00 | met",
		"| vpngw-udp     | N tunnels / 1 flow through 1 tunnel           | 1.20   | 0.40, 2.00 | met",
		"| vpngw-before-esp | N tunnels / the same N flows through 1 tunnel | 0.50",
		"| vpngw-udp     | N flows / 1 flow, both through 1 tunnel | 1.25 | 0.50, 2.00 | – |",
		"| plain | N flows / 1 flow (no tunnel) | 1.25",
		"| wireguard-go | N flows / 1 flow, both through 1 tunnel | 0.65 | 0.50, 0.80 | – |",
		"| vpngw-udp / wireguard-go | 1 flow, 1 tunnel each | 2.00 | 2.00, 2.00 |",
		"| vpngw-udp / wireguard-go | N flows, 1 tunnel each | 3.50 | 2.00, 5.00 |",
		"| vpngw-udp / wireguard-go | N flows: N tunnels / wireguard-go's 1 tunnel | 3.30 | 1.60, 5.00 |",
	} {
		if !strings.Contains(strings.Join(strings.Fields(out), " "), strings.Join(strings.Fields(want), " ")) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

func TestGwopsReport(t *testing.T) {
	dir := t.TempDir()
	for i, c := range []float64{400, 500, 600, 700, 1200} {
		s := GwopsSample{Repeat: i + 1, Connections: 100, CreateMs: c / 2, ConnectedMs: c, ListCLIMs: []float64{50, 60}, ListRESTMs: []float64{5, 6},
			ListCLICPUMs: []float64{30, 40}, ListBeforeMs: []float64{100, 120 + c/100}, ListBeforeCPUMs: []float64{80, 90}}
		if err := appendJSONLine(dir, gwopsFile, s); err != nil {
			t.Fatal(err)
		}
	}
	var b strings.Builder
	if err := writeGwopsReport(dir, &b); err != nil {
		t.Fatal(err)
	}
	out := strings.Join(strings.Fields(b.String()), " ")
	for _, want := range []string{
		"connections listed with the new one in place: [100]",
		"| create -> Connected (CLI create, then GET polled) | 5 | 600.0 | 1200.0 | 1200.0 | < 1000 ms: missed |",
		"| REST GET connections (round trip) | 10 | 5.5 | 6.0 | 6.0 | < 100 ms: met |",
		"create -> Connected per repeat (ms): 400, 500, 600, 700, 1200",
		"| the same processes' CPU time | 10 | 35.0 | 40.0 | 40.0 | |",
		"| list with the -before binary (same run, alternating) | 10 | 112.0 | 127.0 | 132.0 | < 100 ms: missed |",
		"| the same processes' CPU time | 10 | 85.0 | 90.0 | 90.0 | |",
		"list, before / after (median wall time per repeat): 2.04, 2.05, 2.05, 2.06, 2.11; median 2.05",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}
