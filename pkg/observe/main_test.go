package observe_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/robfig/cron/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/internal/fleettest"
	"github.com/vworkspace/pushd/internal/testbed"
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/cronspec"
	"github.com/vworkspace/pushd/pkg/jobs"
	"github.com/vworkspace/pushd/pkg/observe"
	"github.com/vworkspace/pushd/pkg/store"
)

// bed starts when a test first asks for its clusters.
var bed = fleettest.LazyBed(testbed.Options{Clusters: 2, OperatorDelay: 200 * time.Millisecond})

func TestMain(m *testing.M) {
	fleettest.Main(m, bed)
}

// harness is pushd's job machinery and a watcher on one database, with one
// registered cluster per test-bed cluster given, each holding a
// bootstrapped least-privilege credential for a fresh managed namespace.
type harness struct {
	*fleettest.Env
	watcher *observe.Watcher
}

func newHarness(t testing.TB, db dbtest.Database, opts observe.Options, cs ...*testbed.Cluster) *harness {
	t.Helper()
	return newHarnessWith(t, db, opts, clusters.ClientOptions{Timeout: 5 * time.Second}, cs...)
}

// eachOn runs fn once per database (dbtest.Each) on a harness with opts
// of the bed's cluster i, with that cluster's id and a context that ends with
// the subtest.
func eachOn(t *testing.T, i int, opts observe.Options, fn func(t *testing.T, ctx context.Context, h *harness, c *testbed.Cluster, id string)) {
	t.Helper()
	bed.Each(t, i, func(t *testing.T, ctx context.Context, db dbtest.Database, c *testbed.Cluster) {
		h := newHarness(t, db, opts, c)
		fn(t, ctx, h, c, h.IDs[0])
	})
}

// newHarnessWith is newHarness with the clusters' client options.
func newHarnessWith(t testing.TB, db dbtest.Database, opts observe.Options, clientOpts clusters.ClientOptions, cs ...*testbed.Cluster) *harness {
	t.Helper()
	h := &harness{Env: fleettest.NewEnv(t, db, fleettest.Options{Clients: clientOpts}, clusters.Drift{Mode: clusters.DriftReport}, cs...)}
	if opts.Logger == nil {
		opts.Logger = h.Logger
	}
	opts.Corrector = h.Service
	h.watcher = observe.NewWatcher(h.Store, h.Registry, h.Monitor, opts)
	return h
}

// put creates or updates the cluster's record with a drift policy.
func (h *harness) put(t testing.TB, id string, drift clusters.Drift) {
	t.Helper()
	if _, _, err := h.Registry.Put(context.Background(), fleettest.Org, fleettest.Record(id, h.NS, drift)); err != nil {
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
	h.Submit(t, jobs.Spec{ID: jobID, Cluster: cluster, Operation: jobs.Operation{Engine: "manifest", Type: "deploy"},
		Application: application, Namespace: h.NS, Action: jobs.ActionApply, Manifests: manifests, TimeoutSeconds: 60})
	if j := h.Wait(t, jobID, 2*time.Minute); j.Status != store.JobSucceeded {
		t.Fatalf("job %s: %s %+v", jobID, j.Status, j.Error)
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
	rows, err := h.Store.Events(context.Background(), cluster, 10000)
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

// checkDrift runs the cluster's drift check and returns nextcloud's detail,
// failing the test unless its drift is want.
func (h *harness) checkDrift(t testing.TB, cluster string, want observe.DriftState) *observe.ApplicationDetail {
	t.Helper()
	if err := h.watcher.CheckDrift(context.Background(), cluster); err != nil {
		t.Fatal(err)
	}
	d := h.appOf(t, cluster, "nextcloud")
	if d.Drift != want {
		t.Fatalf("drift %s, want %s: %+v", d.Drift, want, d.Objects)
	}
	return d
}

// appOf returns the application's detail, failing the test when absent.
func (h *harness) appOf(t testing.TB, cluster, application string) *observe.ApplicationDetail {
	t.Helper()
	d, err := h.watcher.Application(context.Background(), cluster, h.NS, application)
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

// everySecond accepts what a record accepts and runs it every second, so
// tests of scheduled checks need not wait for the next minute.
type everySecond struct{}

func (everySecond) Parse(spec string) (cron.Schedule, error) {
	if _, err := cronspec.Parse(spec); err != nil {
		return nil, err
	}
	return cron.Every(time.Second), nil
}
