package jobs_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/pkg/jobs"
	"github.com/vworkspace/pushd/pkg/store"
)

// BenchmarkDeadClusterIsolation measures a round of jobs — one deploy on
// each of two healthy clusters — first with all three clusters up (the
// baseline), then with the third cluster's API server stopped and a job
// submitted to it in every round as well. The ratio says what a dead
// cluster costs the others; 1.0 is nothing.
//
//	go test ./pkg/jobs -run '^$' -bench DeadClusterIsolation -benchtime 5x
func BenchmarkDeadClusterIsolation(b *testing.B) {
	h := newHarness(b, dbtest.Database{Driver: "sqlite", DSN: filepath.Join(b.TempDir(), "pushd.db")}, bed.Clusters()...)
	healthy, dead := h.IDs[:2], h.IDs[2]
	round := func(tag string, i int, withDead bool) time.Duration {
		start := time.Now()
		ids := append([]string(nil), healthy...)
		if withDead {
			ids = append(ids, dead)
		}
		for _, c := range ids {
			h.Submit(b, h.spec(fmt.Sprintf("%s-%d-%s", tag, i, c), c, jobs.ActionApply, app("nextcloud", nil), configMap("round", map[string]string{"i": fmt.Sprint(i)})))
		}
		for _, c := range healthy {
			if j := h.Wait(b, fmt.Sprintf("%s-%d-%s", tag, i, c), time.Minute); j.Status != store.JobSucceeded {
				b.Fatalf("%s: %s %+v", c, j.Status, j.Error)
			}
		}
		return time.Since(start)
	}
	round("warm", 0, false) // discovery caches, inventories, connections
	b.ResetTimer()
	var up, down time.Duration
	for i := range b.N {
		up += round("up", i, false)
	}
	victim := bed.Clusters()[2]
	if err := victim.Stop(); err != nil {
		b.Fatal(err)
	}
	defer victim.Start(context.Background())
	for i := range b.N {
		down += round("down", i, true)
	}
	b.StopTimer()
	b.ReportMetric(float64(up.Milliseconds())/float64(b.N), "ms/round-all-up")
	b.ReportMetric(float64(down.Milliseconds())/float64(b.N), "ms/round-one-dead")
	b.ReportMetric(float64(down)/float64(up), "dead/up-ratio")
}
