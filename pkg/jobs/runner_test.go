package jobs_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/internal/testbed"
	"github.com/vworkspace/pushd/internal/testbed/operator"
	"github.com/vworkspace/pushd/pkg/inventory"
	"github.com/vworkspace/pushd/pkg/jobs"
	"github.com/vworkspace/pushd/pkg/store"
)

// TestJobLifecycle tells the story of one application: deployed, pruned,
// refused by preflight, failed by its controller, timed out, and deleted.
func TestJobLifecycle(t *testing.T) {
	eachOn(t, 0, func(t *testing.T, ctx context.Context, h *harness, c *testbed.Cluster, id string) {
		kube, _ := kubernetes.NewForConfig(c.AdminConfig())
		dyn, _ := dynamic.NewForConfig(c.AdminConfig())

		t.Run("apply succeeds once the operator reports Ready", func(t *testing.T) {
			h.Submit(t, h.spec("deploy-1", id, jobs.ActionApply, app("nextcloud", nil), configMap("settings", map[string]string{"a": "1"})))
			j := h.Wait(t, "deploy-1", time.Minute)
			if j.Status != store.JobSucceeded {
				t.Fatalf("status %s: %+v", j.Status, j.Error)
			}
			if len(j.Objects) != 2 {
				t.Fatalf("objects: %+v", j.Objects)
			}
			for _, o := range j.Objects {
				if o.Action != "created" || o.Status != "Current" {
					t.Errorf("object %s: %s/%s", o.Name, o.Action, o.Status)
				}
			}
			a, err := dyn.Resource(operator.Applications).Namespace(h.NS).Get(ctx, "nextcloud", metav1.GetOptions{})
			if err != nil || a.GetLabels()[inventory.ClusterIDLabel] != id {
				t.Fatalf("Application labels %v, %v", a.GetLabels(), err)
			}
			cms, _ := kube.CoreV1().ConfigMaps(h.NS).List(ctx, metav1.ListOptions{})
			for _, cm := range cms.Items {
				if cm.Name != "kube-root-ca.crt" && cm.Labels[inventory.ClusterIDLabel] != id {
					t.Errorf("ConfigMap %s (inventory or object) lacks the cluster-id label: %v", cm.Name, cm.Labels)
				}
			}
			if got := h.statuses(t, id, "deploy-1"); !slices.Equal(got, []string{"queued", "running", "succeeded"}) {
				t.Fatalf("status events %v", got)
			}
			if got := h.firstEvent(t, id, "deploy-1"); !got.CreatedAt.Equal(j.CreatedAt) {
				t.Fatalf("the queued event says created_at %s, the job %s", got.CreatedAt, j.CreatedAt)
			}
		})

		t.Run("objects left out are pruned", func(t *testing.T) {
			h.Submit(t, h.spec("deploy-2", id, jobs.ActionApply, app("nextcloud", nil)))
			if j := h.Wait(t, "deploy-2", time.Minute); j.Status != store.JobSucceeded {
				t.Fatalf("status %s: %+v", j.Status, j.Error)
			}
			if _, err := kube.CoreV1().ConfigMaps(h.NS).Get(ctx, "settings", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Fatalf("pruned ConfigMap still there: %v", err)
			}
		})

		t.Run("one invalid object writes nothing", func(t *testing.T) {
			bad := manifest("v1", "ConfigMap", "bad", nil, map[string]any{"data": map[string]any{"n": 1}})
			h.Submit(t, h.spec("deploy-3", id, jobs.ActionApply, app("nextcloud", nil), configMap("fresh", map[string]string{"x": "y"}), bad))
			j := h.Wait(t, "deploy-3", time.Minute)
			if j.Status != store.JobFailed || j.Error.Code != "preflight_failed" {
				t.Fatalf("status %s: %+v", j.Status, j.Error)
			}
			if _, err := kube.CoreV1().ConfigMaps(h.NS).Get(ctx, "fresh", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Fatalf("a valid object of a refused job was written: %v", err)
			}
		})

		// New objects each: the stand-in operator acts on a new generation, and
		// annotations alone do not make one.
		t.Run("a Stalled object fails the job with its message", func(t *testing.T) {
			h.Submit(t, h.spec("deploy-4", id, jobs.ActionApply, app("failing", map[string]string{operator.OutcomeAnnotation: operator.OutcomeFail, operator.MessageAnnotation: "chart not found"})))
			j := h.Wait(t, "deploy-4", time.Minute)
			if j.Status != store.JobFailed || !strings.Contains(j.Error.Message, "chart not found") {
				t.Fatalf("status %s: %+v", j.Status, j.Error)
			}
		})

		t.Run("a job that never becomes ready fails at its timeout", func(t *testing.T) {
			s := h.spec("deploy-5", id, jobs.ActionApply, app("hanging", map[string]string{operator.OutcomeAnnotation: operator.OutcomeHang}))
			s.TimeoutSeconds = 3
			h.Submit(t, s)
			j := h.Wait(t, "deploy-5", time.Minute)
			if j.Status != store.JobFailed || j.Error.Code != "timeout" {
				t.Fatalf("status %s: %+v", j.Status, j.Error)
			}
		})

		t.Run("delete removes everything", func(t *testing.T) {
			h.Submit(t, h.spec("delete-1", id, jobs.ActionDelete))
			if j := h.Wait(t, "delete-1", time.Minute); j.Status != store.JobSucceeded {
				t.Fatalf("status %s: %+v", j.Status, j.Error)
			}
			list, err := dyn.Resource(operator.Applications).Namespace(h.NS).List(ctx, metav1.ListOptions{})
			if err != nil || len(list.Items) != 0 {
				t.Fatalf("Applications left: %d, %v", len(list.Items), err)
			}
			cms, _ := kube.CoreV1().ConfigMaps(h.NS).List(ctx, metav1.ListOptions{LabelSelector: inventory.ClusterIDLabel})
			if len(cms.Items) != 0 {
				t.Fatalf("ConfigMaps left (inventory?): %d", len(cms.Items))
			}
		})
	})
}

// TestJobsOfOneApplicationRunInOrder queues three jobs at once: they run one
// after another in submission order; a queued one can be cancelled.
func TestJobsOfOneApplicationRunInOrder(t *testing.T) {
	eachOn(t, 1, func(t *testing.T, _ context.Context, h *harness, _ *testbed.Cluster, id string) {
		h.Submit(t, h.spec("o-1", id, jobs.ActionApply, app("nextcloud", nil), configMap("one", nil)))
		h.Submit(t, h.spec("o-2", id, jobs.ActionApply, app("nextcloud", nil), configMap("two", nil)))
		h.Submit(t, h.spec("o-3", id, jobs.ActionApply, app("nextcloud", nil), configMap("three", nil)))
		cancelled, err := h.Service.Cancel(context.Background(), "acme", "o-3")
		if err != nil {
			t.Fatal(err)
		}
		if cancelled.Status != store.JobCancelled && cancelled.Status != store.JobRunning {
			t.Fatalf("cancel: %s", cancelled.Status)
		}
		j1, j2 := h.Wait(t, "o-1", time.Minute), h.Wait(t, "o-2", time.Minute)
		if j1.Status != store.JobSucceeded || j2.Status != store.JobSucceeded {
			t.Fatalf("statuses %s %s: %+v %+v", j1.Status, j2.Status, j1.Error, j2.Error)
		}
		if !j2.StartedAt.After(*j1.FinishedAt) && !j2.StartedAt.Equal(*j1.FinishedAt) {
			t.Fatalf("o-2 started %s before o-1 finished %s", j2.StartedAt, j1.FinishedAt)
		}
		if j3 := h.Wait(t, "o-3", time.Minute); j3.Status != store.JobCancelled {
			t.Fatalf("o-3: %s", j3.Status)
		}
	})
}

// TestDeadClusterCostsOthersNothing stops one of three clusters: its job
// fails with cluster_unreachable while the others' jobs succeed.
func TestDeadClusterCostsOthersNothing(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		h := newHarness(t, db, bed.Clusters()...)
		victim := bed.Clusters()[2]
		if err := victim.Stop(); err != nil {
			t.Fatal(err)
		}
		defer victim.Start(context.Background())
		start := time.Now()
		for i, id := range h.IDs {
			h.Submit(t, h.spec("iso-"+id, id, jobs.ActionApply, app("nextcloud", nil), configMap("c", map[string]string{"i": string(rune('0' + i))})))
		}
		for i, id := range h.IDs {
			j := h.Wait(t, "iso-"+id, 2*time.Minute)
			switch {
			case i == 2 && (j.Status != store.JobFailed || j.Error.Code != "cluster_unreachable"):
				t.Errorf("dead cluster's job: %s %+v", j.Status, j.Error)
			case i != 2 && j.Status != store.JobSucceeded:
				t.Errorf("%s: %s %+v", id, j.Status, j.Error)
			}
			t.Logf("%s: %s after %s", id, j.Status, time.Since(start).Round(time.Millisecond))
		}
	})
}

// TestBackpressure fills a cluster's queue to its bound: the next job is
// refused with ErrBackpressure and not stored.
func TestBackpressure(t *testing.T) {
	h := newHarness(t, dbtest.Database{Driver: "sqlite", DSN: t.TempDir() + "/pushd.db"}, bed.Clusters()[1])
	id := h.IDs[0]
	s := h.spec("bp-1", id, jobs.ActionApply, app("blocker", map[string]string{operator.OutcomeAnnotation: operator.OutcomeHang}))
	h.Submit(t, s) // runs and hangs until its timeout
	h.Submit(t, h.spec("bp-2", id, jobs.ActionApply, app("nextcloud", nil)))
	narrow := jobs.NewService(h.Store, h.Registry, h.Monitor, jobs.ServiceOptions{MaxQueuedPerCluster: 1})
	deadline := time.Now().Add(30 * time.Second)
	for { // bp-1 must be running, bp-2 queued behind it
		j, _ := h.Service.Get(context.Background(), "acme", "bp-1")
		if j.Status == store.JobRunning {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bp-1 never ran: %s", j.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, _, err := narrow.Submit(context.Background(), "acme", h.spec("bp-3", id, jobs.ActionApply, app("nextcloud", nil)))
	if !errors.Is(err, jobs.ErrBackpressure) {
		t.Fatalf("err = %v, want ErrBackpressure", err)
	}
	if _, err := h.Service.Get(context.Background(), "acme", "bp-3"); !errors.Is(err, jobs.ErrNotFound) {
		t.Fatalf("a refused job was stored: %v", err)
	}
	for _, j := range []string{"bp-1", "bp-2"} {
		h.Service.Cancel(context.Background(), "acme", j)
	}
}
