package observe_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/vworkspace/pushd/internal/fleettest"
	"github.com/vworkspace/pushd/internal/testbed"
	"github.com/vworkspace/pushd/internal/testbed/operator"
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/jobs"
	"github.com/vworkspace/pushd/pkg/observe"
	"github.com/vworkspace/pushd/pkg/store"
)

// TestDriftCheckDuringJob: a drift check while Odoo's job of the
// application is in progress measures nothing against the intent that job
// replaces. In report mode no drift.detected is sent for Odoo's own change;
// in correct mode no correction is queued that would put the older intent
// back once the job ends. The application's drift is unknown, with the
// reason, until a check after the job; then it is in sync with the job.
func TestDriftCheckDuringJob(t *testing.T) {
	for _, mode := range []string{clusters.DriftReport, clusters.DriftCorrect} {
		t.Run(mode, func(t *testing.T) {
			eachOn(t, 0, observe.Options{}, func(t *testing.T, ctx context.Context, h *harness, c *testbed.Cluster, id string) {
				kube, _ := kubernetes.NewForConfig(c.AdminConfig())
				h.put(t, id, clusters.Drift{Mode: mode})
				h.deploy(t, "ag-5", id, "nextcloud", app("nextcloud"), configMap("settings", map[string]string{"replicas": "1"}))

				// ag-6 changes the settings and a new generation of the
				// Application the operator takes 10 s to finish.
				h.submitSlow(t, "ag-6", id, 10*time.Second, configMap("settings", map[string]string{"replicas": "3"}))
				waitFor(t, "ag-6 running with its settings written", func() bool {
					cm, err := kube.CoreV1().ConfigMaps(h.NS).Get(ctx, "settings", metav1.GetOptions{})
					return err == nil && cm.Data["replicas"] == "3"
				})

				if err := h.watcher.CheckDrift(ctx, id); err != nil {
					t.Fatal(err)
				}
				d := h.appOf(t, id, "nextcloud")
				if d.Drift != observe.DriftUnknown || d.DriftReason == nil || d.DriftReason.Code != observe.DriftReasonJobInProgress || d.DriftReason.Job != "ag-6" {
					t.Fatalf("during ag-6: drift %s, reason %+v (want unknown, job_in_progress ag-6)", d.Drift, d.DriftReason)
				}
				if e := h.events(t, id, observe.EventDriftDetected); len(e) > 0 {
					t.Fatalf("drift.detected for Odoo's own change: %+v", e)
				}

				if j := h.Wait(t, "ag-6", time.Minute); j.Status != store.JobSucceeded {
					t.Fatalf("ag-6: %s %+v", j.Status, j.Error)
				}
				// Nothing queued behind ag-6 may put ag-5 back.
				time.Sleep(time.Second)
				page, err := h.Service.List(ctx, fleettest.Org, jobs.ListOptions{Cluster: id})
				if err != nil {
					t.Fatal(err)
				}
				for _, j := range page.Items {
					if j.Trigger == jobs.TriggerDrift {
						t.Fatalf("a correction was queued during ag-6: %s (%s)", j.ID, j.Status)
					}
				}
				cm, err := kube.CoreV1().ConfigMaps(h.NS).Get(ctx, "settings", metav1.GetOptions{})
				if err != nil || cm.Data["replicas"] != "3" {
					t.Fatalf("settings after ag-6: %v %v (want ag-6's replicas=3)", cm.Data, err)
				}
				d = h.checkDrift(t, id, observe.DriftInSync)
				if d.ReferenceJob == nil || d.ReferenceJob.ID != "ag-6" || d.DriftReason != nil {
					t.Fatalf("after ag-6: reference %+v, reason %+v", d.ReferenceJob, d.DriftReason)
				}
				if e := h.events(t, id, observe.EventDriftDetected); len(e) > 0 {
					t.Fatalf("drift.detected: %+v", e)
				}
			})
		})
	}
}

// TestSupersededCorrection: a correction queued behind Odoo's job of the
// same application ends itself, cancelled with reason superseded, once
// that job is a newer intent than the one it was to put back.
func TestSupersededCorrection(t *testing.T) {
	eachOn(t, 0, observe.Options{}, func(t *testing.T, ctx context.Context, h *harness, c *testbed.Cluster, id string) {
		kube, _ := kubernetes.NewForConfig(c.AdminConfig())
		h.put(t, id, clusters.Drift{Mode: clusters.DriftCorrect})
		h.deploy(t, "sc-1", id, "nextcloud", app("nextcloud"), configMap("settings", map[string]string{"v": "1"}))
		h.submitSlow(t, "sc-2", id, 5*time.Second, configMap("settings", map[string]string{"v": "2"}))
		// A correction of sc-1's manifests, as a check that raced sc-2's
		// start would have queued (jobs.Service.Correct, taken when sc-1
		// was still the latest intent): it waits behind sc-2.
		sc1, err := h.Store.GetJob(ctx, fleettest.Org, "sc-1")
		if err != nil {
			t.Fatal(err)
		}
		correction := "drift-raced"
		if _, err := h.Store.CreateJob(ctx, &store.Job{Organization: fleettest.Org, ID: correction, Cluster: id, ClusterUID: sc1.ClusterUID,
			Namespace: h.NS, Application: "nextcloud", Engine: sc1.Engine, Type: sc1.Type, Action: jobs.ActionApply, Trigger: jobs.TriggerDrift,
			Manifests: sc1.Manifests, ContentHash: "raced", TimeoutSeconds: 60, Status: store.JobQueued, Objects: "[]"}); err != nil {
			t.Fatal(err)
		}
		h.Runner.Notify()
		if j := h.Wait(t, "sc-2", time.Minute); j.Status != store.JobSucceeded {
			t.Fatalf("sc-2: %s %+v", j.Status, j.Error)
		}
		j := h.Wait(t, correction, time.Minute)
		if j.Status != store.JobCancelled || j.Cancellation == nil || j.Cancellation.Reason != jobs.CancelSuperseded {
			t.Fatalf("correction %s: %s %+v (want cancelled, superseded)", correction, j.Status, j.Cancellation)
		}
		cm, err := kube.CoreV1().ConfigMaps(h.NS).Get(ctx, "settings", metav1.GetOptions{})
		if err != nil || cm.Data["v"] != "2" {
			t.Fatalf("settings: %v %v (want sc-2's v=2)", cm.Data, err)
		}
	})
}

// submitSlow submits an apply of nextcloud with a new generation of its
// Application, which the stand-in operator takes delay to finish, and the
// other manifests; it returns once the job runs.
func (h *harness) submitSlow(t *testing.T, jobID, cluster string, delay time.Duration, others ...json.RawMessage) {
	t.Helper()
	slow := manifest("vworkspace.io/v1alpha1", "Application", "nextcloud", map[string]string{operator.DelayAnnotation: delay.String()},
		map[string]any{"spec": map[string]any{"chart": "nextcloud-v2"}})
	h.Submit(t, jobs.Spec{ID: jobID, Cluster: cluster, Operation: jobs.Operation{Engine: "manifest", Type: "deploy"},
		Application: "nextcloud", Namespace: h.NS, Action: jobs.ActionApply, TimeoutSeconds: 60,
		Manifests: append([]json.RawMessage{slow}, others...)})
	waitFor(t, jobID+" running", func() bool {
		j, err := h.Service.Get(context.Background(), fleettest.Org, jobID)
		return err == nil && j.Status == store.JobRunning
	})
}
