package observe

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/vworkspace/pushd/pkg/clusters"
)

// TestObjectStatusHealthRules: a record's health rule for a kind replaces
// kstatus in status polls (a Velero Backup has no conditions, so kstatus
// calls it Current from the start); kinds without a rule keep kstatus.
func TestObjectStatusHealthRules(t *testing.T) {
	rec := &clusters.Record{ID: "c", Health: []clusters.HealthRule{{Group: "velero.io", Kind: "Backup",
		Current: "object.status.phase == 'Completed'", Failed: "object.status.phase in ['Failed', 'PartiallyFailed']"}}}
	if err := rec.Normalize(); err != nil {
		t.Fatal(err)
	}
	backup := func(phase string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "velero.io/v1", "kind": "Backup",
			"metadata": map[string]any{"name": "b", "generation": int64(1)}, "status": map[string]any{"phase": phase}}}
	}
	for _, tt := range []struct {
		name string
		obj  *unstructured.Unstructured
		rec  *clusters.Record
		want string
	}{
		{"in progress, by the rule", backup("InProgress"), rec, "InProgress"},
		{"completed, by the rule", backup("Completed"), rec, "Current"},
		{"partially failed, by the rule", backup("PartiallyFailed"), rec, "Failed"},
		{"no rule: kstatus", backup("InProgress"), &clusters.Record{ID: "c"}, "Current"},
		{"another kind: kstatus", &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": "c"}}}, rec, "Current"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got, msg := objectStatus(tt.obj, tt.rec, nil); got != tt.want {
				t.Errorf("status %s (%s), want %s", got, msg, tt.want)
			}
		})
	}
}
