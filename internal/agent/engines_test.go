package agent

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/gwconfig"
	"github.com/vpngw/vpngw/internal/ike"
	"github.com/vpngw/vpngw/internal/ike/ikev1"
	"github.com/vpngw/vpngw/internal/ike/isakmp"
)

// twoProtocols is a gateway with an IKEv2 and an IKEv1 connection; the
// IKEv1 one is PolicyBased-style (on demand) when onDemand is set.
const twoProtocols = `
name: gw
localAddress: 192.0.2.1
localPrefixes: [10.1.0.0/16]
connections:
  - name: v2
    remoteAddress: 192.0.2.2
    remotePrefixes: [10.2.0.0/16]
    sharedKey: abc123
  - name: v1
    remoteAddress: 192.0.2.3
    remotePrefixes: [10.3.0.0/16]
    sharedKey: def456
    connectionProtocol: IKEv1
`

// policyBasedConfig is a PolicyBased gateway's one connection.
const policyBasedConfig = `
name: gw
localAddress: 192.0.2.1
localPrefixes: [10.1.0.0/16]
vpnType: PolicyBased
connections:
  - name: pb
    remoteAddress: 192.0.2.3
    remotePrefixes: [10.3.0.0/16, 10.4.0.0/16]
    sharedKey: def456
    idleTimeoutSeconds: 10
`

// TestPolicyBasedPeer: a PolicyBased gateway's connection is an on-demand
// IKEv1 peer with the gateway's × the site's prefixes as selectors, no DPD.
func TestPolicyBasedPeer(t *testing.T) {
	in, err := gwconfig.Parse([]byte(policyBasedConfig))
	if err != nil {
		t.Fatal(err)
	}
	ps, err := peers(in, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := ps[0]
	if !p.PolicyBased || !p.OnDemand || p.DPDTimeout >= 0 || len(p.LocalTS) != 1 || len(p.RemoteTS) != 2 ||
		p.RemoteTS[1] != netip.MustParsePrefix("10.4.0.0/16") || in.Peers[0].ConnectionProtocol != gwconfig.IKEv1 || in.Peers[0].IdleTimeout != 10*time.Second {
		t.Fatalf("PolicyBased peer: %+v", p)
	}
	v := ikev1.New(ikev1.Config{}, nopHost{}, nil)
	if err := v.SetPeers(time.Unix(1_700_000_000, 0), ps); err != nil {
		t.Fatal(err)
	}
	if st, _ := v.PeerStatus("pb"); st.Mode != "OnDemand" || st.State != "down" {
		t.Fatalf("on-demand peer status before traffic: %+v", st)
	}
	if !v.NextDeadline().IsZero() {
		t.Fatal("the engine plans to initiate an on-demand peer on its own")
	}
}

// TestEnginesDemuxAndStatus brings up the IKEv1 connection of an agent
// that runs both engines against an in-memory IKEv1 peer: datagrams reach
// the IKEv1 engine by their version byte, the status book shows the
// connection Connected with its Child SA, and only that connection's entry
// is rebuilt per event.
func TestEnginesDemuxAndStatus(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	in, err := gwconfig.Parse([]byte(twoProtocols))
	if err != nil {
		t.Fatal(err)
	}
	ps, err := peers(in, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ps[1].PolicyBased || ps[1].OnDemand {
		t.Fatalf("route-based IKEv1 peer: %+v", ps[1])
	}
	hostA := &sendHost{}
	a := &Agent{cfg: in, host: &host{lastUp: map[string]time.Time{}}}
	a.book.conns = map[string]ConnectionStatus{}
	a.eng = newEngines(ike.New(ike.Config{}, hostA, nil), ikev1.New(ikev1.Config{}, hostA, nil))
	if err := a.eng.SetPeers(now, in, ps, nil); err != nil {
		t.Fatal(err)
	}
	a.refresh()

	hostS := &sendHost{}
	site := ikev1.New(ikev1.Config{}, hostS, nil)
	if err := site.SetPeers(now, []ike.Peer{{Name: "gw", Local: netip.MustParseAddr("192.0.2.3"), Remote: netip.MustParseAddr("192.0.2.1"),
		PSK: []byte("def456"), Mode: ike.ModeResponderOnly,
		LocalTS: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}, RemoteTS: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}}}); err != nil {
		t.Fatal(err)
	}
	a.eng.Tick(now) // both engines initiate
	u0 := a.book.updates
	for range 10 {
		for _, p := range hostA.sent {
			if p.Remote.Addr() == netip.MustParseAddr("192.0.2.3") {
				site.HandlePacket(now, ike.Packet{Data: p.Data, Local: p.Remote, Remote: p.Local})
			}
		}
		hostA.sent = nil
		for _, p := range hostS.sent {
			a.eng.HandlePacket(now, ike.Packet{Data: p.Data, Local: p.Remote, Remote: p.Local})
			a.publish()
		}
		hostS.sent = nil
	}
	st := a.Status()
	if !st.Connected("v1") || st.Connected("v2") {
		t.Fatalf("want v1 Connected and v2 not: %+v", st.Connections)
	}
	var v1 ConnectionStatus
	for _, c := range st.Connections {
		if c.Name == "v1" {
			v1 = c
		}
	}
	if len(v1.IKE) != 1 || v1.IKE[0].State != "established" || len(v1.IKE[0].Children) != 1 || !v1.IKE[0].Children[0].Outbound ||
		v1.IKE[0].Children[0].Suite == "" || v1.Remote.Addr() != netip.MustParseAddr("192.0.2.3") {
		t.Fatalf("IKEv1 connection status: %+v", v1)
	}
	if d := a.eng.v2.Drops(); d.Load(ike.DropMalformed) != 0 || d.Load(ike.DropUnknownSA) != 0 {
		t.Fatal("IKEv1 datagrams reached the IKEv2 engine")
	}
	if n := a.book.updates - u0; n == 0 || n > 10 {
		t.Fatalf("%d status rebuilds for one IKEv1 tunnel", n)
	}

	// Terminate: down, with the reason, and the peer told.
	if err := a.eng.Terminate(now, "v1"); err != nil {
		t.Fatal(err)
	}
	a.publish()
	if a.Status().Connected("v1") || len(hostA.sent) == 0 {
		t.Fatalf("after Terminate: %+v, %d datagrams to the peer", a.Status().Connections, len(hostA.sent))
	}
	if err := a.eng.Rekey(now, "v1", true); err == nil {
		t.Fatal("a re-authentication of a terminated IKEv1 connection was accepted")
	}

	// The IKEv1 engine's refusals count with the IKEv2 engine's (metrics
	// add them up by reason).
	am, _ := isakmp.Encode(&isakmp.Message{Header: isakmp.Header{ICookie: 7, Exchange: isakmp.ExchAggressive},
		Payloads: []isakmp.Payload{&isakmp.Data{T: isakmp.PayloadNonce, Data: []byte{1}}}})
	a.eng.HandlePacket(now, ike.Packet{Data: am, Local: netip.MustParseAddrPort("192.0.2.1:500"), Remote: netip.MustParseAddrPort("192.0.2.3:500")})
	var total uint64
	for _, d := range a.eng.Drops() {
		total += d.Load(ike.DropAggressiveMode)
	}
	if total != 1 {
		t.Fatalf("Aggressive Mode counted %d times among the engines' drops, want 1", total)
	}
	if _, err := a.eng.of("nope"); err == nil {
		t.Fatal("unknown connection found")
	}
}

// TestIdleCheckEvery: a quarter of the shortest timeout, bounded.
func TestIdleCheckEvery(t *testing.T) {
	for _, tc := range []struct{ in, want time.Duration }{
		{300 * time.Second, 30 * time.Second},
		{8 * time.Second, 2 * time.Second},
		{100 * time.Millisecond, 250 * time.Millisecond},
	} {
		if got := idleCheckEvery(tc.in); got != tc.want {
			t.Errorf("idleCheckEvery(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
