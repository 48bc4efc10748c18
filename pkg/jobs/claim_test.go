package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/internal/fleettest"
	"github.com/vworkspace/pushd/pkg/apply"
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/jobs"
	"github.com/vworkspace/pushd/pkg/store"
)

// flakyRecords is the registry with a store that fails the next reads of
// a record, as a database restarting would.
type flakyRecords struct {
	*clusters.Registry
	fails atomic.Int32
}

func (f *flakyRecords) Get(ctx context.Context, org, id string) (*clusters.Record, error) {
	if f.fails.Add(-1) >= 0 {
		return nil, errors.New("store: driver: bad connection")
	}
	return f.Registry.Get(ctx, org, id)
}

// TestStoreErrorAtClaimIsRetried: a database error while a claimed job is
// checked against its record says nothing about the record: the check is
// tried again and the job runs, instead of failing for good with
// record_changed.
func TestStoreErrorAtClaimIsRetried(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		f := fleettest.New(t, db, fleettest.Options{})
		ns := "t-" + fleettest.RandomID()
		id := f.EnrollManaged(t, ns, clusters.Drift{}, bed.Clusters()[0])[0]
		records := &flakyRecords{Registry: f.Registry}
		records.fails.Store(3)
		runner := jobs.NewRunner(f.Store, records, jobs.EnginesOf(apply.NewEngines(f.Registry, apply.Options{Logger: f.Logger})), f.Monitor,
			jobs.RunnerOptions{Poll: 100 * time.Millisecond, Lease: 5 * time.Second, Logger: f.Logger, RetryBackoff: 100 * time.Millisecond})
		svc := jobs.NewService(f.Store, f.Registry, f.Monitor, jobs.ServiceOptions{Notify: runner.Notify})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { runner.Run(ctx); close(done) }()
		defer func() { cancel(); <-done }()
		j := &fleettest.Jobs{Service: svc, Runner: runner}
		j.Submit(t, jobs.Spec{ID: "flaky-1", Cluster: id, Operation: jobs.Operation{Engine: "manifest", Type: "deploy"},
			Application: "nextcloud", Namespace: ns, Action: jobs.ActionApply, TimeoutSeconds: 30,
			Manifests: []json.RawMessage{configMap("settings", map[string]string{"a": "1"})}})
		got := j.Wait(t, "flaky-1", time.Minute)
		if got.Status != store.JobSucceeded {
			t.Fatalf("job after store errors at claim: %s %+v (want succeeded)", got.Status, got.Error)
		}
		if n := records.fails.Load(); n >= 0 {
			t.Fatalf("the record was read %d times fewer than the failures injected", n+1)
		}
	})
}
