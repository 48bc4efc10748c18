package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/health"
	"github.com/vworkspace/pushd/pkg/inventory"
)

// fuzzRecord is the cluster record every fuzzed job is checked against.
var fuzzRecord = &clusters.Record{
	ID: "prod-1", Organization: "acme",
	AllowedNamespaces:   []string{"shop"},
	AllowedApplications: []string{"nextcloud"},
	AllowedOperations:   []clusters.Operation{{Engine: "manifest", Type: "deploy"}},
}

// fuzzClusters answers for fuzzRecord with a REST mapper that knows
// namespaced and cluster-scoped kinds, as a cluster's discovery would.
type fuzzClusters struct{ clients *clusters.Clients }

func (f fuzzClusters) Get(context.Context, string, string) (*clusters.Record, error) {
	return fuzzRecord, nil
}
func (f fuzzClusters) Clients(string) (*clusters.Clients, error) { return f.clients, nil }

type allowAll struct{}

func (allowAll) Allow(string) bool { return true }

func (allowAll) Observed(context.Context, string) (health.Status, error) {
	return health.Status{}, nil
}

// resettable is a static mapper with the Reset a cached discovery mapper has.
type resettable struct{ *meta.DefaultRESTMapper }

func (resettable) Reset() {}

func fuzzService() *Service {
	m := meta.NewDefaultRESTMapper(nil)
	for _, gvk := range []schema.GroupVersionKind{
		{Version: "v1", Kind: "ConfigMap"}, {Version: "v1", Kind: "Secret"}, {Version: "v1", Kind: "Service"},
		{Group: "apps", Version: "v1", Kind: "Deployment"}, {Group: "vworkspace.io", Version: "v1alpha1", Kind: "Application"},
	} {
		m.Add(gvk, meta.RESTScopeNamespace)
	}
	for _, gvk := range []schema.GroupVersionKind{
		{Version: "v1", Kind: "Namespace"}, {Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole"},
		// A cluster-scoped kind that is also on the allowlist: discovery must refuse it.
		{Group: "vworkspace.io", Version: "v1alpha1", Kind: "Operation"},
	} {
		m.Add(gvk, meta.RESTScopeRoot)
	}
	cs := fuzzClusters{clients: &clusters.Clients{ClusterID: fuzzRecord.ID, Mapper: resettable{m}}}
	return &Service{scope: scope{clusters: cs, monitor: allowAll{}, allowed: DefaultAllowedKinds()}}
}

// FuzzIntake feeds arbitrary bodies through what runs before a job is
// stored: the API's strict JSON decoding into a Spec, the shape validation
// and the scope check against a cluster record. Whatever comes in: no
// panic; an accepted job names an allowed application, namespace and
// operation, and every object it will write is namespaced in the job's
// namespace, of an allowed kind, and carries no other cluster's id; and its
// content hash does not depend on how the body was spelt.
func FuzzIntake(f *testing.F) {
	for _, body := range []string{
		`{"id":"j1","cluster":"prod-1","operation":{"engine":"manifest","type":"deploy"},"application":"nextcloud","namespace":"shop","action":"apply","manifests":[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg"},"data":{"a":"b"}}]}`,
		`{"id":"j2","cluster":"prod-1","operation":{"engine":"manifest","type":"deploy"},"application":"nextcloud","namespace":"shop","action":"delete"}`,
		`{"id":"j3","cluster":"prod-1","operation":{"engine":"manifest","type":"deploy"},"application":"nextcloud","namespace":"shop","action":"apply","manifests":[{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"x"}}]}`,
		`{"id":"j4","cluster":"prod-1","operation":{"engine":"manifest","type":"deploy"},"application":"nextcloud","namespace":"shop","action":"apply","manifests":[{"apiVersion":"vworkspace.io/v1alpha1","kind":"Operation","metadata":{"name":"op"}}]}`,
		`{"id":"j5","cluster":"prod-1","operation":{"engine":"manifest","type":"deploy"},"application":"nextcloud","namespace":"shop","action":"apply","manifests":[{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s","namespace":"other","labels":{"app.vworkspace.io/cluster-id":"prod-2"}},"stringData":{"p":"hunter2"}}]}`,
		`{"id":"j6","cluster":"prod-1","operation":{"engine":"manifest","type":"deploy"},"application":"nextcloud","namespace":"shop","action":"apply","timeout_seconds":3601,"manifests":[{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"template":{"spec":{"hostNetwork":true}}}}]}`,
		`{"id":"j7","extra":1}`,
		`[]`,
		`{"id":"j8"} {"id":"j9"}`,
	} {
		f.Add([]byte(body))
	}
	svc := fuzzService()
	f.Fuzz(func(t *testing.T, body []byte) {
		var spec Spec
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if dec.Decode(&spec) != nil || dec.More() {
			return
		}
		if validate(&spec) != nil {
			return
		}
		if spec.TimeoutSeconds < 1 || spec.TimeoutSeconds > MaxTimeoutSeconds || !idRE.MatchString(spec.ID) {
			t.Fatalf("validated %+v", spec)
		}
		objs, err := svc.checkScope(fuzzRecord, &spec)
		if err != nil {
			return
		}
		_, opAllowed := fuzzRecord.AllowedOperation(spec.Operation.Engine, spec.Operation.Type)
		if !fuzzRecord.AllowsApplication(spec.Application) || !fuzzRecord.AllowsNamespace(spec.Namespace) || !opAllowed {
			t.Fatalf("accepted out of scope: %+v", spec)
		}
		if len(objs) != len(spec.Manifests) {
			t.Fatalf("%d objects from %d manifests", len(objs), len(spec.Manifests))
		}
		for _, u := range objs {
			gvk := u.GroupVersionKind()
			if u.GetNamespace() != spec.Namespace || u.GetName() == "" || !slices.Contains(svc.allowed, gvk.GroupKind()) {
				t.Fatalf("accepted %s %s/%s", gvk, u.GetNamespace(), u.GetName())
			}
			if m, err := svc.clusters.(fuzzClusters).clients.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version); err == nil && m.Scope.Name() == meta.RESTScopeNameRoot {
				t.Fatalf("accepted cluster-scoped %s", gvk)
			}
			if id, ok := u.GetLabels()[inventory.ClusterIDLabel]; ok && id != fuzzRecord.ID {
				t.Fatalf("accepted another cluster's id %q", id)
			}
		}
		// The same job spelt again (re-encoded) hashes the same: a retry is
		// told from a reuse of the id by content, not by spelling.
		again, err := json.Marshal(spec)
		if err != nil {
			t.Fatal(err)
		}
		var spec2 Spec
		if err := json.Unmarshal(again, &spec2); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if contentHash(spec) != contentHash(spec2) {
			t.Fatalf("content hash depends on spelling: %s", body)
		}
	})
}
