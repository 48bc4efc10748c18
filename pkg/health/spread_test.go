package health

import (
	"fmt"
	"testing"
	"time"
)

// TestProbeIntervalsAreSpread: clusters registered together (a fleet
// imported at once, or every cluster after a restart) are first probed
// together; each cluster's interval differs a little, by its id, so their
// probes drift apart instead of hitting the API servers in lockstep
// forever, and no interval strays more than a tenth from the setting.
func TestProbeIntervalsAreSpread(t *testing.T) {
	const interval = 15 * time.Second
	seen := map[time.Duration]bool{}
	var lo, hi time.Duration = interval, interval
	for i := range 500 {
		d := spread(fmt.Sprintf("cluster-%d", i), interval)
		if d != spread(fmt.Sprintf("cluster-%d", i), interval) {
			t.Fatal("a cluster's interval changes between calls")
		}
		if d < interval*9/10 || d > interval*11/10 {
			t.Fatalf("cluster-%d: %s, outside 15s ± 10%%", i, d)
		}
		lo, hi = min(lo, d), max(hi, d)
		seen[d.Truncate(100*time.Millisecond)] = true
	}
	if hi-lo < 2*time.Second || len(seen) < 20 {
		t.Errorf("500 clusters' intervals span %s–%s in %d 100 ms buckets: not spread", lo, hi, len(seen))
	}
}
