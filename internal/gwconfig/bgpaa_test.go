package gwconfig

import (
	"slices"
	"strings"
	"testing"
)

// gracefulRestart and fastTimers reach the typed settings; neither is a
// restart field (the agent re-creates its speaker in place).
func TestBGPGracefulRestartAndFastTimers(t *testing.T) {
	conf := strings.Replace(bgpConfig, "bgpSettings: {bgpPeeringAddress: 10.1.255.30}",
		"bgpSettings: {bgpPeeringAddress: 10.1.255.30, fastTimers: true, gracefulRestart: true}", 1)
	in, err := Parse([]byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	if !in.BGP.Fast || !in.BGP.GracefulRestart {
		t.Fatalf("BGP = %+v, want Fast and GracefulRestart", in.BGP)
	}
	plain, err := Parse([]byte(bgpConfig))
	if err != nil {
		t.Fatal(err)
	}
	if plain.BGP.Fast || plain.BGP.GracefulRestart {
		t.Fatalf("BGP = %+v without the options", plain.BGP)
	}
	if f := RestartFields(&plain.Config, &in.Config); slices.Contains(f, "bgpSettings.bgpPeeringAddress") || len(f) != 0 {
		t.Fatalf("restart fields %v", f)
	}
}
