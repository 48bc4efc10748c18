package api_test

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes"
	kubefake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/vworkspace/pushd/internal/tlstest"
	"github.com/vworkspace/pushd/pkg/apply"
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/health"
	"github.com/vworkspace/pushd/pkg/jobs"
)

// fakeCluster is the one Kubernetes cluster of a newEnv, in memory: every
// record whose credential is stored reaches it, as every record of the
// test bed's tests reached its one cluster. It is the registry with these
// clients (namespaces and objects in a fake clientset, a fixed REST
// mapping), the monitor (a probe reading the stored credential and the
// namespaces) and the job engine (an applier writing to the clientset).
//
// A probe finds the cluster ready, server fakeVersion, and each allowed
// namespace as the clientset holds it, with the rights pushd needs; unless
// the credential's token starts with "refused" (unauthorized). adminToken
// is a cluster-admin's: it has excess rights. An applied object is Current
// at once; one annotated outcomeAnnotation "fail" fails its job, "hang"
// holds it until it is cancelled.
type fakeCluster struct {
	*clusters.Registry
	kube *kubefake.Clientset
	ca   []byte // the API server's CA, PEM

	mu       sync.Mutex
	statuses map[string]health.Status
}

const (
	fakeServer        = "https://127.0.0.1:1" // nothing listens: no request leaves the test
	fakeVersion       = "v1.37.2-fake"
	outcomeAnnotation = "testbed.vworkspace.io/outcome" // what the test bed's operator stand-in obeys
)

var (
	_ jobs.Clusters = (*fakeCluster)(nil)
	_ jobs.Monitor  = (*fakeCluster)(nil)
	_ jobs.Applier  = (*fakeCluster)(nil)
)

func newFakeCluster(t *testing.T, reg *clusters.Registry) *fakeCluster {
	t.Helper()
	ca := tlstest.WritePair(t, t.TempDir(), 1, "127.0.0.1")
	return &fakeCluster{Registry: reg, kube: kubefake.NewClientset(), ca: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}),
		statuses: map[string]health.Status{}}
}

func (f *fakeCluster) Server() (string, []byte)              { return fakeServer, f.ca }
func (f *fakeCluster) AdminToken() string                    { return "admin-token-of-the-fake-cluster" }
func (f *fakeCluster) Admin(*testing.T) kubernetes.Interface { return f.kube }

// Clients are the fake cluster's, for a cluster with a stored credential.
func (f *fakeCluster) Clients(id string) (*clusters.Clients, error) {
	if _, err := f.Credential(id); err != nil {
		return nil, err
	}
	return &clusters.Clients{ClusterID: id, Mapper: mapper{fakeMapping()}, Kube: f.kube, Dynamic: dynamicfake.NewSimpleDynamicClient(scheme.Scheme)}, nil
}

// mapper is a fixed REST mapping, reset by nothing.
type mapper struct{ meta.RESTMapper }

func (mapper) Reset() {}

// fakeMapping knows the kinds the tests send: Namespace and ClusterRole
// cluster-scoped, the others namespaced.
func fakeMapping() meta.RESTMapper {
	m := meta.NewDefaultRESTMapper(nil)
	for _, gvk := range []schema.GroupVersionKind{{Version: "v1", Kind: "Namespace"}, {Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole"}} {
		m.Add(gvk, meta.RESTScopeRoot)
	}
	for _, gvk := range []schema.GroupVersionKind{
		{Version: "v1", Kind: "ConfigMap"}, {Version: "v1", Kind: "Secret"}, {Version: "v1", Kind: "Service"}, {Version: "v1", Kind: "ServiceAccount"},
		{Group: "apps", Version: "v1", Kind: "Deployment"}, {Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "Role"},
		{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "RoleBinding"}, {Group: "vworkspace.io", Version: "v1alpha1", Kind: "Application"},
	} {
		m.Add(gvk, meta.RESTScopeNamespace)
	}
	return m
}

// Check probes rec: the credential stored for it, its allowed namespaces.
func (f *fakeCluster) Check(ctx context.Context, rec *clusters.Record) (health.Status, error) {
	now := time.Now().UTC()
	st := health.Status{Connectivity: health.Connectivity{CheckedAt: &now, Breaker: "closed"}, Credential: health.CredentialInfo{ExcessRights: []string{}},
		Namespaces: []health.NamespaceStatus{}}
	cred, err := f.Credential(rec.ID)
	switch {
	case errors.Is(err, clusters.ErrNoCredentials):
		st.Connectivity.State, st.Connectivity.Message = health.StateNoCredentials, "no kubeconfig stored for this cluster"
	case err != nil:
		return health.Status{}, err
	case strings.HasPrefix(cred.Token, "refused"):
		st.Connectivity.State, st.Connectivity.Message = health.StateUnauthorized, "Unauthorized"
	default:
		st.Connectivity.State, st.ServerVersion = health.StateReady, fakeVersion
		st.Credential.Subject = "system:serviceaccount:kube-system:pushd-" + rec.ID
		if cred.Token == f.AdminToken() {
			st.Credential.ExcessRights = []string{"* */* (cluster-wide)"}
		}
		for _, name := range rec.AllowedNamespaces {
			ns := health.NamespaceStatus{Name: name, MissingRights: []string{}, ExcessRights: []string{}}
			if obj, err := f.kube.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{}); err == nil {
				ns.Exists, ns.RightsOK = true, true
				ns.Labeled = obj.Labels[clusters.ManagedNamespaceLabel] == clusters.ManagedNamespaceValue
				ns.PodSecurityEnforce = obj.Labels[clusters.PodSecurityEnforceLabel]
			}
			st.Namespaces = append(st.Namespaces, ns)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.statuses[rec.ID] = st
	return st, nil
}

// Observed is the last probe of cluster id; never probed: no credential.
func (f *fakeCluster) Observed(_ context.Context, id string) (health.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if st, ok := f.statuses[id]; ok {
		return st, nil
	}
	return health.Status{Connectivity: health.Connectivity{State: health.StateNoCredentials}, Credential: health.CredentialInfo{ExcessRights: []string{}},
		Namespaces: []health.NamespaceStatus{}}, nil
}

// ObservedAll is every registered cluster's last probe.
func (f *fakeCluster) ObservedAll(ctx context.Context) (map[string]health.Status, error) {
	recs, err := f.List(ctx, "")
	if err != nil {
		return nil, err
	}
	out := make(map[string]health.Status, len(recs))
	for _, rec := range recs {
		out[rec.ID], _ = f.Observed(ctx, rec.ID)
	}
	return out, nil
}

// Allow: the fake cluster's breaker never opens.
func (f *fakeCluster) Allow(string) bool { return true }

func (f *fakeCluster) Reset(string) {}

func (f *fakeCluster) Forget(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.statuses, id)
}

// Applier: every cluster's engine is the fake cluster itself.
func (f *fakeCluster) Applier(string) (jobs.Applier, error) { return f, nil }

// Apply writes req's objects, each Current at once (outcomeAnnotation aside).
func (f *fakeCluster) Apply(ctx context.Context, req apply.Request) (*apply.Result, error) {
	res := &apply.Result{Objects: []apply.ObjectResult{}}
	for _, o := range req.Objects {
		gvk := o.GroupVersionKind()
		r := apply.ObjectResult{ObjectRef: apply.ObjectRef{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind, Namespace: o.GetNamespace(), Name: o.GetName()},
			Action: apply.ActionCreated, Status: "Current"}
		switch o.GetAnnotations()[outcomeAnnotation] {
		case "hang":
			<-ctx.Done()
			return res, ctx.Err()
		case "fail":
			r.Status, r.Message = "Failed", "the operator failed it"
			res.Objects = append(res.Objects, r)
			return res, fmt.Errorf("%s: %s", r.ObjectRef, r.Message)
		}
		if err := f.write(o); err != nil {
			return res, err
		}
		res.Objects = append(res.Objects, r)
	}
	return res, nil
}

// Destroy deletes nothing the tests look at: it answers each object deleted.
func (f *fakeCluster) Destroy(_ context.Context, req apply.Request) (*apply.Result, error) {
	res := &apply.Result{Objects: []apply.ObjectResult{}}
	for _, o := range req.Objects {
		gvk := o.GroupVersionKind()
		res.Objects = append(res.Objects, apply.ObjectResult{ObjectRef: apply.ObjectRef{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind,
			Namespace: o.GetNamespace(), Name: o.GetName()}, Action: apply.ActionDeleted, Status: "NotFound"})
	}
	return res, nil
}

// write keeps o in the clientset when it is a built-in kind, so a test
// reads it as it would from a cluster.
func (f *fakeCluster) write(o *unstructured.Unstructured) error {
	typed, err := scheme.Scheme.New(o.GroupVersionKind())
	if err != nil {
		return nil // not a built-in kind: applied, not kept
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, typed); err != nil {
		return err
	}
	m, err := fakeMapping().RESTMapping(o.GroupVersionKind().GroupKind(), o.GroupVersionKind().Version)
	if err != nil {
		return err
	}
	tracker := f.kube.Tracker()
	if _, err := tracker.Get(m.Resource, o.GetNamespace(), o.GetName()); err == nil {
		return tracker.Update(m.Resource, typed, o.GetNamespace())
	}
	return tracker.Create(m.Resource, typed, o.GetNamespace())
}
