package tunstat

import "testing"

func TestDropReasons(t *testing.T) {
	seen := map[string]bool{}
	for r := DropReason(0); int(r) < NumDropReasons; r++ {
		name := r.String()
		if name == "unknown" || seen[name] {
			t.Errorf("drop reason %d: name %q missing or repeated", r, name)
		}
		seen[name] = true
	}
	if got := DropReason(NumDropReasons).String(); got != "unknown" {
		t.Errorf("DropReason(NumDropReasons) = %q, want unknown", got)
	}
}

func TestCounters(t *testing.T) {
	var c Counters
	c.Drops[DropAuth] = 2
	c.Drops[DropNoRoom] = 3
	if c.Drop(DropAuth) != 2 || c.Drop(DropNoRoom) != 3 || c.Drop(DropReplay) != 0 {
		t.Errorf("Drop: %v", c.Drops)
	}
	if c.Drop(DropReason(NumDropReasons)) != 0 {
		t.Error("Drop of an unknown reason is not 0")
	}
	if c.TotalDrops() != 5 {
		t.Errorf("TotalDrops = %d, want 5", c.TotalDrops())
	}
}
