package observe_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"

	"github.com/vworkspace/pushd/internal/fleettest"
	"github.com/vworkspace/pushd/internal/testbed"
	"github.com/vworkspace/pushd/internal/testbed/operator"
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/jobs"
	"github.com/vworkspace/pushd/pkg/observe"
	"github.com/vworkspace/pushd/pkg/store"
)

var configMaps = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}

// TestDriftStory tells the story of one application after a job applied
// it: in sync; changes pushd never made are not drift; a field pushd set,
// changed by another manager, is; reverting resolves it; a deleted object
// is missing and, in mode correct, is restored by a queued job; the
// operator failing the object changes the health.
func TestDriftStory(t *testing.T) {
	eachOn(t, 0, observe.Options{}, func(t *testing.T, ctx context.Context, h *harness, c *testbed.Cluster, id string) {
		w := h.watcher
		kube, _ := kubernetes.NewForConfig(c.AdminConfig())
		cm := func(data map[string]any, meta map[string]any) map[string]any {
			m := map[string]any{"name": "settings", "namespace": h.NS}
			for k, v := range meta {
				m[k] = v
			}
			obj := map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": m}
			if data != nil {
				obj["data"] = data
			}
			return obj
		}
		check := func(t *testing.T, want observe.DriftState) *observe.ApplicationDetail {
			t.Helper()
			return h.checkDrift(t, id, want)
		}

		t.Run("an applied application is listed from the cluster and in sync", func(t *testing.T) {
			h.deploy(t, "deploy-1", id, "nextcloud", app("nextcloud"), configMap("settings", map[string]string{"a": "1", "b": "2"}))
			apps, err := w.Applications(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if len(apps) != 1 || apps[0].Objects != 2 || apps[0].Drift != observe.DriftUnknown || apps[0].LastJob == nil || apps[0].LastJob.ID != "deploy-1" {
				t.Fatalf("before any poll: %+v", apps)
			}
			if err := w.Poll(ctx, id); err != nil {
				t.Fatal(err)
			}
			apps, _ = w.Applications(ctx, id)
			if apps[0].Health != "Current" || apps[0].CheckedAt == nil {
				t.Fatalf("after a poll: %+v", apps[0])
			}
			d := check(t, observe.DriftInSync)
			if o := objectOf(t, d, "ConfigMap", "settings"); o.Status != "Current" || o.Drifted || o.Version != "v1" {
				t.Fatalf("ConfigMap: %+v", o)
			}
		})

		t.Run("fields pushd never set are not drift", func(t *testing.T) {
			someone(t, c, configMaps, cm(map[string]any{"extra": "x"}, map[string]any{
				"labels": map[string]any{"team": "ops"}, "annotations": map[string]any{"note": "by hand"}}))
			check(t, observe.DriftInSync)
		})

		t.Run("a field pushd set, changed by another manager, is drift", func(t *testing.T) {
			someone(t, c, configMaps, cm(map[string]any{"a": "changed"}, nil))
			d := check(t, observe.DriftDrifted)
			o := objectOf(t, d, "ConfigMap", "settings")
			if !o.Drifted || o.Missing || len(o.DriftedFields) != 1 {
				t.Fatalf("ConfigMap: %+v", o)
			}
			if f := o.DriftedFields[0]; f.Path != ".data.a" || f.Manager == nil || *f.Manager != "someone" || f.ChangedAt == nil {
				t.Fatalf("drifted field: %+v", f)
			}
			if o := objectOf(t, d, "Application", "nextcloud"); o.Drifted {
				t.Fatalf("Application: %+v", o)
			}
			check(t, observe.DriftDrifted) // still drifted: no second event
			ev := h.events(t, id, observe.EventDriftDetected)
			if len(ev) != 1 || ev[0].Data["mode"] != "report" || ev[0].Data["correction_job"] != nil || ev[0].Data["cluster_id"] != id {
				t.Fatalf("drift.detected events: %+v", ev)
			}
			if objs, _ := ev[0].Data["objects"].([]any); len(objs) != 1 {
				t.Fatalf("drift.detected objects: %+v", ev[0].Data["objects"])
			}
		})

		t.Run("reverting the value resolves the drift", func(t *testing.T) {
			someone(t, c, configMaps, cm(map[string]any{"a": "1"}, nil))
			check(t, observe.DriftInSync)
			ev := h.events(t, id, observe.EventDriftResolved)
			if len(ev) != 1 || ev[0].Data["namespace"] != h.NS || ev[0].Data["application"] != "nextcloud" || ev[0].Data["correction_job"] != nil {
				t.Fatalf("drift.resolved events: %+v", ev)
			}
		})

		t.Run("a field pushd set, removed by an update, is drift", func(t *testing.T) {
			edit := func(fn func(data map[string]string)) {
				got, err := kube.CoreV1().ConfigMaps(h.NS).Get(ctx, "settings", metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				fn(got.Data)
				if _, err := kube.CoreV1().ConfigMaps(h.NS).Update(ctx, got, metav1.UpdateOptions{FieldManager: "editor"}); err != nil {
					t.Fatal(err)
				}
			}
			edit(func(data map[string]string) { delete(data, "b") })
			d := check(t, observe.DriftDrifted)
			o := objectOf(t, d, "ConfigMap", "settings")
			if len(o.DriftedFields) != 1 || o.DriftedFields[0].Path != ".data.b" || o.DriftedFields[0].Manager != nil {
				t.Fatalf("ConfigMap: %+v", o)
			}
			edit(func(data map[string]string) { data["b"] = "2" })
			check(t, observe.DriftInSync)
			if d, r := h.events(t, id, observe.EventDriftDetected), h.events(t, id, observe.EventDriftResolved); len(d) != 2 || len(r) != 2 {
				t.Fatalf("%d drift.detected, %d drift.resolved events; want 2 each", len(d), len(r))
			}
		})

		t.Run("a deleted object is missing, and mode correct restores it", func(t *testing.T) {
			h.put(t, id, clusters.Drift{Mode: clusters.DriftCorrect})
			if err := kube.CoreV1().ConfigMaps(h.NS).Delete(ctx, "settings", metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			d := check(t, observe.DriftDrifted)
			if o := objectOf(t, d, "ConfigMap", "settings"); !o.Missing || !o.Drifted || o.Status != "NotFound" {
				t.Fatalf("ConfigMap: %+v", o)
			}
			ev := h.events(t, id, observe.EventDriftDetected)
			if len(ev) != 3 || ev[2].Data["mode"] != "correct" {
				t.Fatalf("drift.detected events: %+v", ev)
			}
			job, _ := ev[2].Data["correction_job"].(string)
			if !strings.HasPrefix(job, "drift-") {
				t.Fatalf("correction job %q", job)
			}
			if j := h.Wait(t, job, time.Minute); j.Status != "succeeded" || j.Trigger != jobs.TriggerDrift {
				t.Fatalf("correction job: %s trigger %s %+v", j.Status, j.Trigger, j.Error)
			}
			// pushd asked for it: the audit log says so, naming the job.
			audit, err := h.Store.AuditEntries(ctx, fleettest.Org, store.AuditFilter{Action: store.AuditDriftCorrection})
			if err != nil {
				t.Fatal(err)
			}
			if len(audit) != 1 || audit[0].ActorKind != store.ActorPushd || audit[0].Cluster != id || audit[0].Subject != job || audit[0].ClusterUID == "" || audit[0].Outcome != store.AuditOK {
				t.Fatalf("audit entries of the correction: %+v", audit)
			}
			got, err := kube.CoreV1().ConfigMaps(h.NS).Get(ctx, "settings", metav1.GetOptions{})
			if err != nil || got.Data["a"] != "1" {
				t.Fatalf("ConfigMap not restored: %v %v", got, err)
			}
			check(t, observe.DriftInSync)
			res := h.events(t, id, observe.EventDriftResolved)
			if len(res) != 3 || res[2].Data["correction_job"] != job {
				t.Fatalf("drift.resolved events: %+v", res)
			}
			apps, _ := w.Applications(ctx, id)
			if lj := apps[0].LastJob; lj == nil || lj.ID != job || lj.Trigger != jobs.TriggerDrift {
				t.Fatalf("last job: %+v", lj)
			}
		})

		t.Run("the operator failing an object changes the health", func(t *testing.T) {
			// Another manager adds a field pushd does not set (a new
			// generation, which the stand-in operator acts on) and the
			// outcome annotation: not drift, but the object fails.
			someone(t, c, operator.Applications, map[string]any{
				"apiVersion": "vworkspace.io/v1alpha1", "kind": "Application",
				"metadata": map[string]any{"name": "nextcloud", "namespace": h.NS, "annotations": map[string]any{
					operator.OutcomeAnnotation: operator.OutcomeFail, operator.MessageAnnotation: "chart gone"}},
				"spec": map[string]any{"values": map[string]any{"flip": "1"}},
			})
			deadline := time.Now().Add(30 * time.Second)
			for {
				if err := w.Poll(ctx, id); err != nil {
					t.Fatal(err)
				}
				if d := h.appOf(t, id, "nextcloud"); d.Health == "Failed" {
					if o := objectOf(t, d, "Application", "nextcloud"); !strings.Contains(o.Message, "chart gone") {
						t.Fatalf("Application: %+v", o)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("health still %s", h.appOf(t, id, "nextcloud").Health)
				}
				time.Sleep(200 * time.Millisecond)
			}
			ev := h.events(t, id, observe.EventHealthChanged)
			last := ev[len(ev)-1].Data
			// Current → InProgress (the operator saw the new generation) → Failed.
			if last["health"] != "Failed" || last["previous_health"] != "InProgress" || last["checked_at"] == nil || last["cluster_id"] != id {
				t.Fatalf("health_changed events: %+v", ev)
			}
			check(t, observe.DriftInSync)
		})

		t.Run("an unknown application is not found", func(t *testing.T) {
			if _, err := w.Application(ctx, id, h.NS, "mattermost"); err != observe.ErrNotFound {
				t.Fatalf("err %v", err)
			}
			if _, err := kube.CoreV1().ConfigMaps(h.NS).Get(ctx, "nope", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Fatal(err)
			}
		})
	})
}

var secrets = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}

// TestSecretStringDataDrifts: a Secret Odoo sends with stringData (a
// write-only field: the API server folds it into data) drifts when its
// value is changed in the cluster, and in sync again once put back.
func TestSecretStringDataDrifts(t *testing.T) {
	eachOn(t, 0, observe.Options{}, func(t *testing.T, _ context.Context, h *harness, c *testbed.Cluster, id string) {
		secret := manifest("v1", "Secret", "db", nil, map[string]any{"stringData": map[string]any{"password": "from-odoo"}})
		h.deploy(t, "s-1", id, "nextcloud", app("nextcloud"), secret)
		h.checkDrift(t, id, observe.DriftInSync)

		changed := map[string]any{"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": "db", "namespace": h.NS},
			"data": map[string]any{"password": base64.StdEncoding.EncodeToString([]byte("changed"))}}
		someone(t, c, secrets, changed)
		d := h.checkDrift(t, id, observe.DriftDrifted)
		o := objectOf(t, d, "Secret", "db")
		if !o.Drifted || len(o.DriftedFields) != 1 || o.DriftedFields[0].Path != ".data.password" {
			t.Fatalf("Secret: %+v", o)
		}
		if strings.Contains(fmt.Sprint(o), "changed") || strings.Contains(fmt.Sprint(o), "from-odoo") {
			t.Fatalf("the drift report shows a Secret value: %+v", o)
		}
		changed["data"] = map[string]any{"password": base64.StdEncoding.EncodeToString([]byte("from-odoo"))}
		someone(t, c, secrets, changed)
		h.checkDrift(t, id, observe.DriftInSync)
	})
}
