package apply

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

func TestControllerStatus(t *testing.T) {
	cr := func(generation int64, st map[string]any) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "vworkspace.io/v1alpha1", "kind": "Application",
			"metadata": map[string]any{"name": "web", "namespace": "apps", "generation": generation},
		}}
		if st != nil {
			u.Object["status"] = st
		}
		return u
	}
	ready := []any{map[string]any{"type": "Ready", "status": "True"}}
	stalled := []any{map[string]any{"type": "Stalled", "status": "True", "message": "disk full"}}
	tests := []struct {
		name string
		obj  *unstructured.Unstructured
		want status.Status
	}{
		// plain kstatus calls this Current: no controller has seen it yet.
		{name: "new, no status", obj: cr(1, nil), want: status.InProgressStatus},
		{name: "status without observedGeneration", obj: cr(1, map[string]any{"conditions": ready}), want: status.InProgressStatus},
		{name: "older generation observed", obj: cr(2, map[string]any{"observedGeneration": int64(1), "conditions": ready}), want: status.InProgressStatus},
		{name: "generation observed and ready", obj: cr(2, map[string]any{"observedGeneration": int64(2), "conditions": ready}), want: status.CurrentStatus},
		{name: "generation observed and stalled", obj: cr(1, map[string]any{"observedGeneration": int64(1), "conditions": stalled}), want: status.FailedStatus},
		{name: "no generation at all falls back to kstatus", obj: cr(0, nil), want: status.CurrentStatus},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := controllerStatus(tt.obj)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != tt.want {
				t.Errorf("status = %s (%s), want %s", got.Status, got.Message, tt.want)
			}
		})
	}
	deleting := cr(1, nil)
	deleting.SetDeletionTimestamp(&metav1Now)
	if got, _ := controllerStatus(deleting); got.Status != status.TerminatingStatus {
		t.Errorf("deleting object: status = %s, want Terminating", got.Status)
	}
}

var metav1Now = metav1.Now()
