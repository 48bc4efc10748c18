package observe_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"os"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/internal/fleettest"
	"github.com/vworkspace/pushd/internal/testbed"
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/jobs"
	"github.com/vworkspace/pushd/pkg/observe"
	"github.com/vworkspace/pushd/pkg/store"
)

var bed *testbed.Bed

func TestMain(m *testing.M) {
	bed = testbed.MustStart(testbed.Options{Clusters: 2, OperatorDelay: 200 * time.Millisecond})
	code := dbtest.Main(m)
	bed.Stop()
	os.Exit(code)
}

// harness is pushd's job machinery and a watcher on one database, with one
// registered cluster per test-bed cluster given, each holding a
// bootstrapped least-privilege credential for a fresh managed namespace.
type harness struct {
	store   *store.Store
	creds   *clusters.CredentialStore
	reg     *clusters.Registry
	monitor *clusters.Monitor
	svc     *jobs.Service
	watcher *observe.Watcher
	ids     []string // cluster ids, one per test-bed cluster
	ns      string   // the managed namespace (same name on every cluster)
}

func randomID() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func newHarness(t testing.TB, db dbtest.Database, opts observe.Options, cs ...*testbed.Cluster) *harness {
	t.Helper()
	return newHarnessWith(t, db, opts, clusters.ClientOptions{Timeout: 5 * time.Second}, cs...)
}

// newHarnessWith is newHarness with the clusters' client options.
func newHarnessWith(t testing.TB, db dbtest.Database, opts observe.Options, clientOpts clusters.ClientOptions, cs ...*testbed.Cluster) *harness {
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
	h := &harness{store: st, creds: creds, ns: "t-" + randomID()}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	h.reg = clusters.NewRegistry(st, creds, clusters.RegistryOptions{Clients: clientOpts})
	h.monitor = clusters.NewMonitor(h.reg, st, clusters.MonitorOptions{})
	for _, c := range cs {
		fleettest.ManagedNamespace(t, c, h.ns)
		id := c.Name + "-" + randomID()
		h.ids = append(h.ids, id)
		h.put(t, id, clusters.Drift{Mode: clusters.DriftReport})
		fleettest.Enroll(t, creds, c, id, []string{h.ns})
	}
	runner := jobs.NewRunner(st, h.reg, h.monitor, jobs.RunnerOptions{Poll: 100 * time.Millisecond, Lease: 5 * time.Second, Logger: log})
	h.svc = jobs.NewService(st, h.reg, h.monitor, jobs.ServiceOptions{Notify: runner.Notify})
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { runner.Run(runCtx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	if opts.Logger == nil {
		opts.Logger = log
	}
	opts.Corrector = h.svc
	h.watcher = observe.NewWatcher(st, h.reg, h.monitor, opts)
	return h
}

// put creates or updates the cluster's record with a drift policy.
func (h *harness) put(t testing.TB, id string, drift clusters.Drift) {
	t.Helper()
	if _, _, err := h.reg.Put(context.Background(), "acme", clusters.Record{
		ID: id, AllowedNamespaces: []string{h.ns}, AllowedApplications: []string{"nextcloud", "mattermost"},
		AllowedOperations: []clusters.Operation{{Engine: "manifest", Type: "deploy"}}, Drift: drift,
	}); err != nil {
		t.Fatal(err)
	}
}

var manifest = fleettest.Manifest

func app(name string) json.RawMessage {
	return manifest("vworkspace.io/v1alpha1", "Application", name, nil, map[string]any{"spec": map[string]any{"chart": name}})
}

func configMap(name string, data map[string]string) json.RawMessage {
	return manifest("v1", "ConfigMap", name, nil, map[string]any{"data": data})
}

// deploy submits an apply job of the application and waits for it to succeed.
func (h *harness) deploy(t testing.TB, jobID, cluster, application string, manifests ...json.RawMessage) {
	t.Helper()
	ctx := context.Background()
	s := jobs.Spec{ID: jobID, Cluster: cluster, Operation: jobs.Operation{Engine: "manifest", Type: "deploy"},
		Application: application, Namespace: h.ns, Action: jobs.ActionApply, Manifests: manifests, TimeoutSeconds: 60}
	if _, created, err := h.svc.Submit(ctx, "acme", s); err != nil || !created {
		t.Fatalf("submit %s: created=%v err=%v", jobID, created, err)
	}
	if j := h.wait(t, jobID, 2*time.Minute); j.Status != store.JobSucceeded {
		t.Fatalf("job %s: %s %+v", jobID, j.Status, j.Error)
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

// event is an outbox row with its data decoded.
type event struct {
	Type string
	Data map[string]any
}

// events lists the cluster's events of the given type, oldest first.
func (h *harness) events(t testing.TB, cluster, typ string) []event {
	t.Helper()
	rows, err := h.store.Events(context.Background(), cluster, 10000)
	if err != nil {
		t.Fatal(err)
	}
	var out []event
	for i := len(rows) - 1; i >= 0; i-- {
		if rows[i].Type != typ {
			continue
		}
		e := event{Type: rows[i].Type}
		if err := json.Unmarshal([]byte(rows[i].Data), &e.Data); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

// someone server-side applies obj to the cluster as another field manager,
// taking fields from pushd where they conflict (kubectl apply
// --server-side --force-conflicts --field-manager someone).
func someone(t testing.TB, c *testbed.Cluster, gvr schema.GroupVersionResource, obj map[string]any) {
	t.Helper()
	dyn, err := dynamic.NewForConfig(c.AdminConfig())
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: obj}
	if _, err := dyn.Resource(gvr).Namespace(u.GetNamespace()).Apply(context.Background(), u.GetName(), u,
		metav1.ApplyOptions{FieldManager: "someone", Force: true}); err != nil {
		t.Fatal(err)
	}
}

// appOf returns the application's detail, failing the test when absent.
func (h *harness) appOf(t testing.TB, cluster, application string) *observe.ApplicationDetail {
	t.Helper()
	d, err := h.watcher.Application(context.Background(), cluster, h.ns, application)
	if err != nil {
		t.Fatalf("application %s: %v", application, err)
	}
	return d
}

// objectOf finds an object of an application by kind and name.
func objectOf(t testing.TB, d *observe.ApplicationDetail, kind, name string) observe.Object {
	t.Helper()
	for _, o := range d.Objects {
		if o.Kind == kind && o.Name == name {
			return o
		}
	}
	t.Fatalf("no %s %s in %+v", kind, name, d.Objects)
	return observe.Object{}
}
