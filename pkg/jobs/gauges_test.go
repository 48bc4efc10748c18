package jobs_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/internal/fleettest"
	"github.com/vworkspace/pushd/pkg/jobs"
	"github.com/vworkspace/pushd/pkg/store"
)

// The queue gauges count each cluster's queued jobs and those waiting for
// their cluster, from the database at the scrape.
func TestQueueGauges(t *testing.T) {
	dbtest.EachContext(t, func(t *testing.T, ctx context.Context, db dbtest.Database) {
		f := fleettest.New(t, db, fleettest.Options{})
		for i, cluster := range []string{"a", "a", "b"} {
			j := &store.Job{ID: fmt.Sprint("g", i), Organization: fleettest.Org, Cluster: cluster, Namespace: "ns",
				Application: fmt.Sprint("app", i), Action: jobs.ActionApply, Status: store.JobQueued, Manifests: "[]", Objects: "[]"}
			if _, err := f.Store.CreateJob(ctx, j); err != nil {
				t.Fatal(err)
			}
			if cluster == "b" {
				if _, err := f.Store.MarkWaiting(ctx, j.Seq, jobs.WaitUnreachable, time.Now()); err != nil {
					t.Fatal(err)
				}
			}
		}
		reg := prometheus.NewRegistry()
		jobs.RegisterQueueGauges(reg, f.Store)
		want := `
# HELP pushd_jobs_queued Jobs queued (accepted, not yet running) per cluster.
# TYPE pushd_jobs_queued gauge
pushd_jobs_queued{cluster="a"} 2
pushd_jobs_queued{cluster="b"} 1
# HELP pushd_jobs_waiting Queued jobs waiting for their cluster to be reachable again (wait_reason set), per cluster.
# TYPE pushd_jobs_waiting gauge
pushd_jobs_waiting{cluster="a"} 0
pushd_jobs_waiting{cluster="b"} 1
`
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
			t.Fatal(err)
		}
	})
}
