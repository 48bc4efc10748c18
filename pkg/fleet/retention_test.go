package fleet_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vworkspace/pushd/internal/logbuf"
	"github.com/vworkspace/pushd/internal/storetest"
	"github.com/vworkspace/pushd/pkg/fleet"
	"github.com/vworkspace/pushd/pkg/store"
)

// TestRetentionSweep: with the clock past a finished job's retention, one
// sweep prunes it and its delivered event, logs what it removed and
// counts it in /metrics; a job within the retention stays.
func TestRetentionSweep(t *testing.T) {
	storetest.Each(t, func(t *testing.T, ctx context.Context, st *store.Store) {
		c := &store.Cluster{ID: "c-1", Organization: "acme"}
		if _, err := st.PutCluster(ctx, c); err != nil {
			t.Fatal(err)
		}
		start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		for i, id := range []string{"early", "late"} {
			at := start.Add(time.Duration(i) * 10 * 24 * time.Hour)
			j := &store.Job{Organization: "acme", ID: id, Cluster: "c-1", ClusterUID: c.UID, Namespace: "ns", Application: id,
				Action: "delete", Status: store.JobFailed, FinishedAt: &at}
			e := &store.Event{ID: "evt_" + id, Type: "job.status_changed", Organization: "acme", Cluster: "c-1", Data: `{"id":"` + id + `"}`}
			if _, err := st.CreateJob(ctx, j, e); err != nil {
				t.Fatal(err)
			}
			if err := st.MarkEventDelivered(ctx, e.Seq, at); err != nil {
				t.Fatal(err)
			}
		}
		reg := prometheus.NewRegistry()
		var logs logbuf.Buffer
		now := start.Add(35 * 24 * time.Hour) // "early" finished 35 days ago, "late" 25
		sw := fleet.NewRetention(st, 30*24*time.Hour, fleet.RetentionOptions{
			Registerer: reg, Logger: slog.New(slog.NewTextHandler(&logs, nil)), Now: func() time.Time { return now },
		})
		sw.Sweep(ctx)

		if _, err := st.GetJob(ctx, "acme", "early"); err == nil {
			t.Fatal("a job past the retention was kept")
		}
		if _, err := st.GetJob(ctx, "acme", "late"); err != nil {
			t.Fatalf("a job within the retention: %v", err)
		}
		want := `
# HELP pushd_retention_pruned_total Rows the retention sweep deleted, by what they were.
# TYPE pushd_retention_pruned_total counter
pushd_retention_pruned_total{what="events"} 1
pushd_retention_pruned_total{what="jobs"} 1
`
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "pushd_retention_pruned_total"); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(logs.String(), "retention: pruned") || !strings.Contains(logs.String(), "jobs=1") {
			t.Fatalf("log: %s", logs.String())
		}
	})
}
