package jobs_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/internal/fleettest"
	"github.com/vworkspace/pushd/internal/testbed"
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/health"
	"github.com/vworkspace/pushd/pkg/jobs"
	"github.com/vworkspace/pushd/pkg/store"
)

// bed starts when a test first asks for its clusters.
var bed = fleettest.LazyBed(testbed.Options{Clusters: 3, OperatorDelay: 300 * time.Millisecond})

func TestMain(m *testing.M) {
	fleettest.Main(m, bed)
}

// harness is pushd's job machinery on one database, with one registered
// cluster per test-bed cluster given, each holding a bootstrapped
// least-privilege credential for a fresh managed namespace.
type harness struct{ *fleettest.Env }

func newHarness(t testing.TB, db dbtest.Database, cs ...*testbed.Cluster) *harness {
	t.Helper()
	opts := fleettest.Options{Monitor: health.MonitorOptions{Interval: 500 * time.Millisecond, ProbeTimeout: 2 * time.Second}}
	return &harness{fleettest.NewEnv(t, db, opts, clusters.Drift{}, cs...)}
}

// eachOn runs fn once per database (dbtest.Each) on a harness of the
// bed's cluster i, with that cluster's id and a context that ends with
// the subtest.
func eachOn(t *testing.T, i int, fn func(t *testing.T, ctx context.Context, h *harness, c *testbed.Cluster, id string)) {
	t.Helper()
	bed.Each(t, i, func(t *testing.T, ctx context.Context, db dbtest.Database, c *testbed.Cluster) {
		h := newHarness(t, db, c)
		fn(t, ctx, h, c, h.IDs[0])
	})
}

var manifest = fleettest.Manifest

func app(name string, annotations map[string]string) json.RawMessage {
	return manifest("vworkspace.io/v1alpha1", "Application", name, annotations, map[string]any{"spec": map[string]any{"chart": name}})
}

func configMap(name string, data map[string]string) json.RawMessage {
	return manifest("v1", "ConfigMap", name, nil, map[string]any{"data": data})
}

func (h *harness) spec(id, cluster, action string, manifests ...json.RawMessage) jobs.Spec {
	return jobs.Spec{ID: id, Cluster: cluster, Operation: jobs.Operation{Engine: "manifest", Type: "deploy"},
		Application: "nextcloud", Namespace: h.NS, Action: action, Manifests: manifests, TimeoutSeconds: 30}
}

// statuses lists the statuses the job.status_changed events of a job
// announced, oldest first.
func (h *harness) statuses(t *testing.T, cluster, id string) []string {
	t.Helper()
	var out []string
	for _, j := range h.jobEvents(t, cluster, id) {
		out = append(out, string(j.Status))
	}
	return out
}

// jobEvents lists the job.status_changed events of a job, oldest first.
func (h *harness) jobEvents(t *testing.T, cluster, id string) []jobs.Job {
	t.Helper()
	return jobEvents(t, h.Store, cluster, id)
}

// jobEvents lists the job.status_changed events of job id on cluster in st,
// oldest first.
func jobEvents(t *testing.T, st *store.Store, cluster, id string) []jobs.Job {
	t.Helper()
	events, err := st.Events(context.Background(), cluster, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []jobs.Job
	for i := len(events) - 1; i >= 0; i-- {
		if events[i].Type != jobs.EventStatusChanged {
			continue
		}
		var j jobs.Job
		json.Unmarshal([]byte(events[i].Data), &j)
		if j.ID == id {
			out = append(out, j)
		}
	}
	return out
}

// firstEvent is the oldest job.status_changed event of a job, as Odoo gets it.
func (h *harness) firstEvent(t *testing.T, cluster, id string) jobs.Job {
	t.Helper()
	if events := h.jobEvents(t, cluster, id); len(events) > 0 {
		return events[0]
	}
	t.Fatalf("no event for job %s", id)
	return jobs.Job{}
}
