package jobs_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/internal/fleettest"
	"github.com/vworkspace/pushd/internal/testbed"
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/jobs"
	"github.com/vworkspace/pushd/pkg/store"
)

var bed *testbed.Bed

func TestMain(m *testing.M) {
	bed = testbed.MustStart(testbed.Options{Clusters: 3, OperatorDelay: 300 * time.Millisecond})
	code := dbtest.Main(m)
	bed.Stop()
	os.Exit(code)
}

// harness is pushd's job machinery on one database, with one registered
// cluster per test-bed cluster given, each holding a bootstrapped
// least-privilege credential for a fresh managed namespace.
type harness struct {
	store   *store.Store
	reg     *clusters.Registry
	monitor *clusters.Monitor
	svc     *jobs.Service
	runner  *jobs.Runner
	ids     []string // cluster ids, one per test-bed cluster
	ns      string   // the managed namespace (same name on every cluster)
}

func randomID() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func newHarness(t testing.TB, db dbtest.Database, cs ...*testbed.Cluster) *harness {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, db.Driver, db.DSN, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	creds, err := clusters.NewCredentialStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{store: st, ns: "t-" + randomID()}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	h.reg = clusters.NewRegistry(st, creds, clusters.RegistryOptions{})
	h.monitor = clusters.NewMonitor(h.reg, st, clusters.MonitorOptions{Interval: 500 * time.Millisecond, ProbeTimeout: 2 * time.Second})
	for _, c := range cs {
		fleettest.ManagedNamespace(t, c, h.ns)
		id := c.Name + "-" + randomID()
		h.ids = append(h.ids, id)
		if _, _, err := h.reg.Put(ctx, "acme", clusters.Record{
			ID: id, AllowedNamespaces: []string{h.ns}, AllowedApplications: []string{"nextcloud", "mattermost"},
			AllowedOperations: []clusters.Operation{{Engine: "manifest", Type: "deploy"}},
		}); err != nil {
			t.Fatal(err)
		}
		fleettest.Enroll(t, creds, c, id, []string{h.ns})
	}
	h.runner = jobs.NewRunner(st, h.reg, h.monitor, jobs.RunnerOptions{Poll: 100 * time.Millisecond, Lease: 5 * time.Second, Logger: log})
	h.svc = jobs.NewService(st, h.reg, h.monitor, jobs.ServiceOptions{Notify: h.runner.Notify})
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.runner.Run(runCtx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return h
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
		Application: "nextcloud", Namespace: h.ns, Action: action, Manifests: manifests, TimeoutSeconds: 30}
}

func (h *harness) submit(t testing.TB, s jobs.Spec) {
	t.Helper()
	if _, created, err := h.svc.Submit(context.Background(), "acme", s); err != nil || !created {
		t.Fatalf("submit %s: created=%v err=%v", s.ID, created, err)
	}
}

// wait returns the job once it is terminal.
func (h *harness) wait(t testing.TB, id string, within time.Duration) *jobs.Job {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		j, err := h.svc.Get(context.Background(), "acme", id)
		if err != nil {
			t.Fatal(err)
		}
		if j.Status == store.JobSucceeded || j.Status == store.JobFailed || j.Status == store.JobCancelled {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still %s after %s", id, j.Status, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// statuses lists the job.status_changed events of a job, oldest first.
func (h *harness) statuses(t *testing.T, cluster, id string) []string {
	t.Helper()
	events, err := h.store.Events(context.Background(), cluster, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := len(events) - 1; i >= 0; i-- {
		if events[i].Type != jobs.EventStatusChanged {
			continue
		}
		var j jobs.Job
		json.Unmarshal([]byte(events[i].Data), &j)
		if j.ID == id {
			out = append(out, j.Status)
		}
	}
	return out
}

// firstEvent is the oldest job.status_changed event of a job, as Odoo gets it.
func (h *harness) firstEvent(t *testing.T, cluster, id string) jobs.Job {
	t.Helper()
	events, err := h.store.Events(context.Background(), cluster, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(events) - 1; i >= 0; i-- {
		var j jobs.Job
		json.Unmarshal([]byte(events[i].Data), &j)
		if events[i].Type == jobs.EventStatusChanged && j.ID == id {
			return j
		}
	}
	t.Fatalf("no event for job %s", id)
	return jobs.Job{}
}
