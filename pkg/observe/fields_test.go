package observe

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/vworkspace/pushd/pkg/inventory"
)

func TestAggregate(t *testing.T) {
	tests := []struct {
		name     string
		statuses []string
		want     string
	}{
		{name: "empty is Current", want: "Current"},
		{name: "all Current", statuses: []string{"Current", "Current"}, want: "Current"},
		{name: "InProgress beats Current", statuses: []string{"Current", "InProgress"}, want: "InProgress"},
		{name: "Terminating beats InProgress", statuses: []string{"InProgress", "Terminating"}, want: "Terminating"},
		{name: "Unknown beats Terminating", statuses: []string{"Terminating", "Unknown"}, want: "Unknown"},
		{name: "NotFound beats Unknown", statuses: []string{"Unknown", "NotFound"}, want: "NotFound"},
		{name: "Failed beats everything", statuses: []string{"NotFound", "Failed", "Current"}, want: "Failed"},
		{name: "a status kstatus does not know counts as Unknown", statuses: []string{"Current", "Weird"}, want: "Unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := aggregate(tt.statuses); got != tt.want {
				t.Errorf("aggregate(%v) = %s, want %s", tt.statuses, got, tt.want)
			}
		})
	}
}

// deployment is a live object with an associative list (containers keyed
// by name), a set (finalizers) and an atomic list (args).
func deployment(image string, replicas int64) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "web", "namespace": "apps", "finalizers": []any{"a", "b"}},
		"spec": map[string]any{
			"replicas": replicas,
			"template": map[string]any{"spec": map[string]any{"containers": []any{
				map[string]any{"name": "sidecar", "image": "proxy:1"},
				map[string]any{"name": "app", "image": image, "args": []any{"--port", "80"}},
			}}},
		},
	}}
}

func path(t *testing.T, parts ...any) fieldpath.Path {
	t.Helper()
	p, err := fieldpath.MakePath(parts...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLookup(t *testing.T) {
	obj := deployment("app:1", 3).Object
	tests := []struct {
		name   string
		parts  []any
		want   any
		wantOK bool
	}{
		{name: "field", parts: []any{"spec", "replicas"}, want: int64(3), wantOK: true},
		{name: "associative list key", parts: []any{"spec", "template", "spec", "containers", fieldpath.KeyByFields("name", "app"), "image"}, want: "app:1", wantOK: true},
		{name: "atomic list index", parts: []any{"spec", "template", "spec", "containers", fieldpath.KeyByFields("name", "app"), "args", 1}, want: "80", wantOK: true},
		{name: "missing key", parts: []any{"spec", "template", "spec", "containers", fieldpath.KeyByFields("name", "nope"), "image"}},
		{name: "missing field", parts: []any{"spec", "paused"}},
		{name: "index out of range", parts: []any{"spec", "template", "spec", "containers", fieldpath.KeyByFields("name", "app"), "args", 5}},
		{name: "field of a scalar", parts: []any{"spec", "replicas", "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := lookup(obj, path(t, tt.parts...))
			if ok != tt.wantOK || (ok && !cmp.Equal(got, tt.want)) {
				t.Errorf("lookup = %v, %v; want %v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestDriftedFields(t *testing.T) {
	image := path(t, "spec", "template", "spec", "containers", fieldpath.KeyByFields("name", "app"), "image")
	replicas := path(t, "spec", "replicas")
	// pushd applied the app container's image only; replicas belong to
	// an autoscaler.
	applied := fieldpath.NewSet(image)
	want := deployment("app:1", 3)
	at := metav1.NewTime(time.Date(2026, 5, 4, 10, 18, 12, 0, time.UTC))
	owned := func(s *fieldpath.Set) *metav1.FieldsV1 {
		b, err := s.ToJSON()
		if err != nil {
			t.Fatal(err)
		}
		return &metav1.FieldsV1{Raw: b}
	}
	tests := []struct {
		name string
		live *unstructured.Unstructured
		want []DriftedField
	}{
		{name: "same image, other replicas: in sync", live: deployment("app:1", 7)},
		{name: "image changed by kubectl-set", live: withManagers(deployment("app:2", 3), []metav1.ManagedFieldsEntry{
			{Manager: inventory.FieldManager, Operation: metav1.ManagedFieldsOperationApply, FieldsV1: owned(fieldpath.NewSet())},
			{Manager: "hpa", Operation: metav1.ManagedFieldsOperationUpdate, FieldsV1: owned(fieldpath.NewSet(replicas))},
			{Manager: "kubectl-set", Operation: metav1.ManagedFieldsOperationUpdate, Time: &at, FieldsV1: owned(fieldpath.NewSet(image))},
		}), want: []DriftedField{{Path: `.spec.template.spec.containers[name="app"].image`, Manager: ptr("kubectl-set"), ChangedAt: &at.Time}}},
		{name: "container removed: nobody owns it", live: func() *unstructured.Unstructured {
			u := deployment("app:1", 3)
			unstructured.SetNestedSlice(u.Object, []any{map[string]any{"name": "sidecar", "image": "proxy:1"}}, "spec", "template", "spec", "containers")
			return u
		}(), want: []DriftedField{{Path: `.spec.template.spec.containers[name="app"].image`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := driftedFields(want, tt.live, applied)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("driftedFields (-want +got):\n%s", diff)
			}
		})
	}
}

func withManagers(u *unstructured.Unstructured, m []metav1.ManagedFieldsEntry) *unstructured.Unstructured {
	u.SetManagedFields(m)
	return u
}

func ptr(s string) *string { return &s }
