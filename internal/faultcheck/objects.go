package faultcheck

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/vworkspace/pushd/pkg/store"
)

// appKey is one application of one cluster.
type appKey struct{ cluster, namespace, application string }

// checkObjects reads each application's objects back from its cluster.
func checkObjects(ctx context.Context, rep *Report, in Input, jobs []store.Job) error {
	history := map[appKey][]store.Job{} // oldest first
	for _, j := range jobs {
		k := appKey{j.Cluster, j.Namespace, j.Application}
		history[k] = append(history[k], j)
	}
	readers := map[string]*reader{}
	for k, js := range history {
		cfg := in.Clusters[k.cluster]
		if cfg == nil {
			continue
		}
		if readers[k.cluster] == nil {
			r, err := newReader(cfg)
			if err != nil {
				return fmt.Errorf("cluster %q: %w", k.cluster, err)
			}
			readers[k.cluster] = r
		}
		if err := checkApplication(ctx, rep, in, readers[k.cluster], k, js); err != nil {
			return fmt.Errorf("cluster %q: application %s/%s: %w", k.cluster, k.namespace, k.application, err)
		}
	}
	return nil
}

// checkApplication compares one application's live objects with its
// latest intent: the newest job that passed its preflight. Only a
// succeeded one says what must be live; after a failed or cancelled one
// either version may be.
func checkApplication(ctx context.Context, rep *Report, in Input, r *reader, k appKey, js []store.Job) error {
	latest := -1
	for i, j := range js {
		if j.Intent {
			latest = i
		}
	}
	if latest < 0 || js[latest].Status != store.JobSucceeded {
		return nil
	}
	want := js[latest]
	ref := JobRef{want.Organization, want.ID}
	manifests, ok := in.Acked[ref]
	if !ok {
		return nil // pushd queued it itself (a drift correction): the test has no copy
	}
	current := map[string]bool{}
	for _, raw := range manifests {
		m, err := decode(raw, k.namespace)
		if err != nil {
			return fmt.Errorf("job %s: %w", ref, err)
		}
		current[objectKey(m)] = true
		live, err := r.get(ctx, m)
		if apierrors.IsNotFound(err) {
			rep.problem("cluster %q: %s of job %s (the latest succeeded intent) is missing", k.cluster, objectKey(m), ref)
			continue
		}
		if err != nil {
			return err
		}
		rep.Objects++
		if path, ok := contains(live.Object, m.Object, ""); !ok {
			rep.problem("cluster %q: %s differs from job %s (the latest succeeded intent) at %s", k.cluster, objectKey(m), ref, path)
		}
	}
	// What earlier jobs named and the latest does not must have been pruned.
	gone := map[string]*unstructured.Unstructured{}
	for _, j := range js[:latest] {
		if j.Action == store.ActionOperate {
			continue // an operation's objects are its own, not the application's: never pruned by its applies
		}
		for _, raw := range in.Acked[JobRef{j.Organization, j.ID}] {
			m, err := decode(raw, k.namespace)
			if err != nil {
				return fmt.Errorf("job %s/%s: %w", j.Organization, j.ID, err)
			}
			if !current[objectKey(m)] {
				gone[objectKey(m)] = m
			}
		}
	}
	for key, m := range gone {
		_, err := r.get(ctx, m)
		switch {
		case apierrors.IsNotFound(err):
			rep.Pruned++
		case err != nil:
			return err
		default:
			rep.problem("cluster %q: %s is live, but job %s (the latest succeeded intent) does not name it: not pruned", k.cluster, key, ref)
		}
	}
	return nil
}

func decode(raw json.RawMessage, namespace string) (*unstructured.Unstructured, error) {
	m := &unstructured.Unstructured{}
	if err := m.UnmarshalJSON(raw); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if m.GetNamespace() == "" {
		m.SetNamespace(namespace)
	}
	return m, nil
}

func objectKey(m *unstructured.Unstructured) string {
	return m.GroupVersionKind().GroupKind().String() + "/" + m.GetNamespace() + "/" + m.GetName()
}

// contains reports whether live has every field want sets, with want's
// value, and the path of the first that differs. Lists compare whole; a
// null in want sets nothing.
func contains(live, want map[string]any, path string) (string, bool) {
	for k, w := range want {
		if w == nil {
			continue
		}
		p := path + "." + k
		l, ok := live[k]
		if !ok {
			return p, false
		}
		wm, wIsMap := w.(map[string]any)
		lm, lIsMap := l.(map[string]any)
		if wIsMap && lIsMap {
			if at, ok := contains(lm, wm, p); !ok {
				return at, false
			}
			continue
		}
		if !reflect.DeepEqual(normalize(l), normalize(w)) {
			return p, false
		}
	}
	return "", true
}

// normalize makes numbers comparable whatever decoded them (int64 from the
// API server's JSON, float64 from encoding/json).
func normalize(v any) any {
	b, _ := json.Marshal(v)
	var out any
	json.Unmarshal(b, &out)
	return out
}

// reader gets objects of any kind from one cluster.
type reader struct {
	dyn    dynamic.Interface
	mapper *restmapper.DeferredDiscoveryRESTMapper
}

func newReader(cfg *rest.Config) (*reader, error) {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &reader{dyn: dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))}, nil
}

func (r *reader) get(ctx context.Context, m *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	gvk := m.GroupVersionKind()
	mapping, err := r.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", objectKey(m), err)
	}
	return r.dyn.Resource(mapping.Resource).Namespace(m.GetNamespace()).Get(ctx, m.GetName(), metav1.GetOptions{})
}
