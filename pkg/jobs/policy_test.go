package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/vworkspace/pushd/internal/storetest"
	"github.com/vworkspace/pushd/pkg/apply"
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/health"
	"github.com/vworkspace/pushd/pkg/jobs"
	"github.com/vworkspace/pushd/pkg/store"
	"github.com/vworkspace/pushd/pkg/workers"
)

// The runner's policy on fakes: no cluster, no test bed, a real SQLite
// store. What a run does on a real API server is pkg/apply's and the
// test-bed tests' concern; these pin what the runner makes of it.

// oneRecord is a registry of one record whose clients know ConfigMaps.
type oneRecord struct{ rec clusters.Record }

func (o oneRecord) Get(_ context.Context, org, id string) (*clusters.Record, error) {
	if id != o.rec.ID || (org != "" && org != o.rec.Organization) {
		return nil, clusters.ErrNotFound
	}
	r := o.rec
	return &r, nil
}

func (o oneRecord) Clients(string) (*clusters.Clients, error) {
	m := meta.NewDefaultRESTMapper(nil)
	m.Add(schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, meta.RESTScopeNamespace)
	return &clusters.Clients{ClusterID: o.rec.ID, Mapper: resettable{m}}, nil
}

type resettable struct{ meta.RESTMapper }

func (resettable) Reset() {}

// healthy is a monitor whose clusters are up and least-privileged.
type healthy struct{}

func (healthy) Allow(string) bool { return true }
func (healthy) Observed(context.Context, string) (health.Status, error) {
	return health.Status{}, nil
}

type policy struct {
	uid    string // the record's generation
	store  *store.Store
	svc    *jobs.Service
	runner *jobs.Runner
}

func newPolicy(t *testing.T, a jobs.Applier) *policy {
	t.Helper()
	ctx := context.Background()
	st := storetest.SQLite(t)
	row := &store.Cluster{ID: "edge-1", Organization: "acme"}
	if _, err := st.PutCluster(ctx, row); err != nil {
		t.Fatal(err)
	}
	recs := oneRecord{clusters.Record{ID: "edge-1", Organization: "acme", UID: row.UID, AllowedNamespaces: []string{"team-a"},
		AllowedApplications: []string{"nextcloud"}, AllowedOperations: []clusters.Operation{{Engine: "manifest", Type: "deploy"}}}}
	runner := jobs.NewRunner(st, recs, jobs.FakeEngines{All: a}, healthy{},
		jobs.RunnerOptions{Poll: 20 * time.Millisecond, Lease: 5 * time.Second, RetryBackoff: 100 * time.Millisecond, ProgressInterval: 50 * time.Millisecond})
	svc := jobs.NewService(st, recs, healthy{}, jobs.ServiceOptions{Notify: runner.Notify})
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { runner.Run(rctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return &policy{uid: row.UID, store: st, svc: svc, runner: runner}
}

func (p *policy) submit(t *testing.T, id string) {
	t.Helper()
	cm, _ := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "settings"}, "data": map[string]any{"a": "1"}})
	if _, created, err := p.svc.Submit(context.Background(), "acme", jobs.Spec{ID: id, Cluster: "edge-1", Operation: jobs.Operation{Engine: "manifest", Type: "deploy"},
		Application: "nextcloud", Namespace: "team-a", Action: jobs.ActionApply, TimeoutSeconds: 30, Manifests: []json.RawMessage{cm}}); err != nil || !created {
		t.Fatalf("submit %s: %v %v", id, created, err)
	}
}

// until polls the job until cond holds, for up to 10 s.
func (p *policy) until(t *testing.T, id, what string, cond func(*jobs.Job) bool) *jobs.Job {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		j, err := p.svc.Get(context.Background(), "acme", id)
		if err != nil {
			t.Fatal(err)
		}
		if cond(j) {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s: not within 10 s (last %+v)", id, what, j)
		}
	}
}

func (p *policy) statuses(t *testing.T, id string) []jobs.Job {
	t.Helper()
	return jobEvents(t, p.store, "edge-1", id)
}

// count is how many of js f holds for.
func count(js []jobs.Job, f func(jobs.Job) bool) (n int) {
	for _, j := range js {
		if f(j) {
			n++
		}
	}
	return n
}

var written = apply.ObjectResult{ObjectRef: apply.ObjectRef{Version: "v1", Kind: "ConfigMap", Namespace: "team-a", Name: "settings"},
	Action: apply.ActionConfigured, Status: "InProgress"}

// TestRunnerShowsProgress: what the applier reports while it runs is the
// job's objects before it ends, and the job is the application's intent
// from then on.
func TestRunnerShowsProgress(t *testing.T) {
	release := make(chan struct{})
	p := newPolicy(t, &jobs.FakeApplier{ApplyFunc: func(ctx context.Context, req apply.Request) (*apply.Result, error) {
		req.Progress([]apply.ObjectResult{written})
		<-release
		done := written
		done.Status = "Current"
		return &apply.Result{Objects: []apply.ObjectResult{done}}, nil
	}})
	p.submit(t, "p-1")
	j := p.until(t, "p-1", "the written object listed while running", func(j *jobs.Job) bool {
		return j.Status == store.JobRunning && len(j.Objects) == 1 && j.Objects[0].Status == "InProgress"
	})
	if latest, err := p.store.LatestIntent(context.Background(), p.uid, "team-a", "nextcloud"); err != nil || latest.ID != "p-1" {
		t.Fatalf("latest intent while %s runs: %+v %v (want p-1, from its first report)", j.ID, latest, err)
	}
	close(release)
	p.until(t, "p-1", "succeeded with its final objects", func(j *jobs.Job) bool {
		return j.Status == store.JobSucceeded && len(j.Objects) == 1 && j.Objects[0].Status == "Current"
	})
}

// TestRunnerRequeuesTransientFailures: a run the cluster fails
// transiently puts the job back, queued and waiting with its next attempt;
// each attempt is listed, the wait announced once, and the job succeeds
// when the cluster answers.
func TestRunnerRequeuesTransientFailures(t *testing.T) {
	var fails atomic.Int32
	fails.Store(3)
	p := newPolicy(t, &jobs.FakeApplier{ApplyFunc: func(context.Context, apply.Request) (*apply.Result, error) {
		if fails.Add(-1) >= 0 {
			return nil, fmtUnreachable
		}
		return &apply.Result{Objects: []apply.ObjectResult{written}}, nil
	}})
	p.submit(t, "r-1")
	w := p.until(t, "r-1", "queued, waiting for its next attempt", func(j *jobs.Job) bool {
		return j.Status == store.JobQueued && j.Waiting != nil && j.Waiting.NextAttemptAt != nil
	})
	if w.Waiting.Reason != jobs.WaitUnreachable || len(w.Retries) == 0 || !w.Waiting.Since.Equal(w.Retries[0].At) {
		t.Fatalf("waiting %+v, retries %+v", w.Waiting, w.Retries)
	}
	j := p.until(t, "r-1", "succeeded", func(j *jobs.Job) bool { return j.Status == store.JobSucceeded })
	if len(j.Retries) != 3 || j.Waiting != nil {
		t.Fatalf("after the failures: %d retries, waiting %+v (want 3, nil)", len(j.Retries), j.Waiting)
	}
	if waits := count(p.statuses(t, "r-1"), func(e jobs.Job) bool { return e.Waiting != nil }); waits != 1 {
		t.Fatalf("%d events announced the wait, want 1", waits)
	}
}

var fmtUnreachable = errors.Join(apply.ErrUnreachable, errors.New("dial tcp 127.0.0.1:1: connection refused"))

// TestRunnerFailsAPanickedJobOnce: a panic in a run fails its job with
// internal_error, one terminal event, counted; the next job runs.
func TestRunnerFailsAPanickedJobOnce(t *testing.T) {
	var n atomic.Int32
	p := newPolicy(t, &jobs.FakeApplier{ApplyFunc: func(context.Context, apply.Request) (*apply.Result, error) {
		if n.Add(1) == 1 {
			panic("a bug in the engine")
		}
		return &apply.Result{}, nil
	}})
	before := testutil.ToFloat64(workers.Panics.WithLabelValues("job"))
	p.submit(t, "x-1")
	j := p.until(t, "x-1", "ended", func(j *jobs.Job) bool { return j.FinishedAt != nil })
	if j.Status != store.JobFailed || j.Error == nil || j.Error.Code != "internal_error" {
		t.Fatalf("panicked job: %s %+v", j.Status, j.Error)
	}
	if d := testutil.ToFloat64(workers.Panics.WithLabelValues("job")) - before; d != 1 {
		t.Fatalf("pushd_panics_total{kind=job} grew by %v", d)
	}
	if terminal := count(p.statuses(t, "x-1"), func(e jobs.Job) bool { return e.FinishedAt != nil }); terminal != 1 {
		t.Fatalf("%d terminal events, want 1", terminal)
	}
	p.submit(t, "x-2")
	j = p.until(t, "x-2", "ended", func(j *jobs.Job) bool { return j.FinishedAt != nil })
	if j.Status != store.JobSucceeded {
		t.Fatalf("the next job: %s %+v", j.Status, j.Error)
	}
	if held := j.StartedAt.Sub(*p.until(t, "x-1", "ended", func(*jobs.Job) bool { return true }).FinishedAt); held < workers.FirstBackoff/2 {
		t.Fatalf("the cluster's next job started %s after the panic, not after its backoff", held)
	}
}
