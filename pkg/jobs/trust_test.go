package jobs_test

import (
	"context"
	"errors"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/vworkspace/pushd/internal/fleettest"
	"github.com/vworkspace/pushd/internal/testbed"
	"github.com/vworkspace/pushd/internal/testbed/operator"
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/jobs"
	"github.com/vworkspace/pushd/pkg/store"
)

// TestJobsWaitOutOutage stops a cluster's API server for 20 s while three
// jobs of one application are queued: they wait (visible as waiting once
// the breaker opened, cancellable) and all succeed once it is back. A job
// whose deadline passes during the outage fails with cluster_unreachable,
// and says what it retried.
func TestJobsWaitOutOutage(t *testing.T) {
	eachOn(t, 2, func(t *testing.T, ctx context.Context, h *harness, c *testbed.Cluster, id string) {
		monCtx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { h.Monitor.Run(monCtx); close(done) }()
		defer func() { stop(); <-done }()

		fleettest.Outage(t, c)
		for _, jid := range []string{"w-1", "w-2", "w-3"} {
			s := h.spec(jid, id, jobs.ActionApply, configMap("settings", map[string]string{"job": jid}))
			s.TimeoutSeconds = 180
			h.Submit(t, s)
		}
		short := h.spec("w-short", id, jobs.ActionApply, configMap("other", map[string]string{"a": "1"}))
		short.Application, short.TimeoutSeconds = "mattermost", 4
		h.Submit(t, short)

		// Once the breaker is open the queued jobs say they wait, and why.
		deadline := time.Now().Add(30 * time.Second)
		for {
			j, err := h.Service.Get(ctx, fleettest.Org, "w-3")
			if err != nil {
				t.Fatal(err)
			}
			if j.Waiting != nil {
				if j.Status != store.JobQueued || j.Waiting.Reason != jobs.WaitUnreachable {
					t.Fatalf("waiting job: %s %+v", j.Status, j.Waiting)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("w-3 never shown waiting while its cluster is down")
			}
			time.Sleep(200 * time.Millisecond)
		}
		if got := h.firstWaiting(t, id, "w-3"); got == nil {
			t.Fatal("no job.status_changed event announced w-3 waiting")
		}
		// Cancel works while waiting.
		s := h.spec("w-cancel", id, jobs.ActionApply, configMap("settings", map[string]string{"job": "cancel"}))
		s.TimeoutSeconds = 180
		h.Submit(t, s)
		if j, err := h.Service.Cancel(ctx, fleettest.Org, "w-cancel"); err != nil || j.Status != store.JobCancelled {
			t.Fatalf("cancel a waiting job: %+v %v", j, err)
		}

		j := h.Wait(t, "w-short", 30*time.Second)
		if j.Status != store.JobFailed || j.Error.Code != "cluster_unreachable" {
			t.Fatalf("job past its deadline: %s %+v", j.Status, j.Error)
		}
		time.Sleep(20*time.Second - 5*time.Second)
		if err := c.Start(ctx); err != nil {
			t.Fatal(err)
		}
		for _, jid := range []string{"w-1", "w-2", "w-3"} {
			if j := h.Wait(t, jid, 2*time.Minute); j.Status != store.JobSucceeded {
				t.Fatalf("%s after the outage: %s %+v", jid, j.Status, j.Error)
			}
		}
		kube, _ := kubernetes.NewForConfig(c.AdminConfig())
		cm, err := kube.CoreV1().ConfigMaps(h.NS).Get(ctx, "settings", metav1.GetOptions{})
		if err != nil || cm.Data["job"] != "w-3" {
			t.Fatalf("settings after the outage: %v %v", cm.Data, err)
		}
	})
}

// firstWaiting is the first job.status_changed event of a job that says it
// waits; nil when none did.
func (h *harness) firstWaiting(t *testing.T, cluster, id string) *jobs.Waiting {
	t.Helper()
	for _, j := range h.jobEvents(t, cluster, id) {
		if j.Status == store.JobQueued && j.Waiting != nil {
			return j.Waiting
		}
	}
	return nil
}

// TestRetriedRunSaysWhat: a job claimed while its API server is down (the
// breaker has not seen it yet) retries within its deadline, succeeds once
// the server is back, and lists what it retried. Between attempts it is
// queued, waiting, with the time of its next attempt, and each attempt so
// far in its retries; its first wait is announced once.
func TestRetriedRunSaysWhat(t *testing.T) {
	// No monitor runs: the breaker stays closed.
	eachOn(t, 2, func(t *testing.T, ctx context.Context, h *harness, c *testbed.Cluster, id string) {
		fleettest.Outage(t, c)
		s := h.spec("r-1", id, jobs.ActionApply, configMap("settings", map[string]string{"a": "1"}))
		s.TimeoutSeconds = 120
		h.Submit(t, s)
		time.Sleep(4 * time.Second)
		j, err := h.Service.Get(ctx, fleettest.Org, "r-1")
		if err != nil {
			t.Fatal(err)
		}
		if j.Status != store.JobQueued || j.Waiting == nil || j.Waiting.Reason != jobs.WaitUnreachable || j.Waiting.NextAttemptAt == nil ||
			len(j.Retries) < 2 || j.Retries[0].Error == "" {
			t.Fatalf("during the outage: %s, waiting %+v, %d retries (want queued, waiting for cluster_unreachable with a next attempt, each retry listed)",
				j.Status, j.Waiting, len(j.Retries))
		}
		if !j.Waiting.Since.Equal(j.Retries[0].At) || !j.Waiting.NextAttemptAt.After(j.Retries[len(j.Retries)-1].At) {
			t.Fatalf("waiting %+v does not follow the retries %+v", j.Waiting, j.Retries)
		}
		if err := c.Start(ctx); err != nil {
			t.Fatal(err)
		}
		j = h.Wait(t, "r-1", time.Minute)
		if j.Status != store.JobSucceeded {
			t.Fatalf("status %s %+v", j.Status, j.Error)
		}
		if len(j.Retries) == 0 || j.Retries[0].Error == "" {
			t.Fatalf("retries not reported: %+v", j.Retries)
		}
		waits := 0
		for _, e := range h.jobEvents(t, id, "r-1") {
			if e.Status == store.JobQueued && e.Waiting != nil {
				waits++
			}
		}
		if waits != 1 {
			t.Fatalf("%d events announced r-1 waiting, want 1", waits)
		}
	})
}

// TestQueuedJobRecheckedAtClaim queues a job behind a running one of the
// same application, then changes the record under it: narrowed (the
// application no longer allowed), or deleted and created again under the
// same id behind the API's back (only the generation tells the records
// apart). When claimed, the job fails with the rule's code and writes
// nothing.
func TestQueuedJobRecheckedAtClaim(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, h *harness, id string)
		code   string
	}{
		{"narrowed", func(t *testing.T, h *harness, id string) {
			rec := fleettest.Record(id, h.NS, clusters.Drift{})
			rec.AllowedApplications = []string{"mattermost"}
			if _, _, err := h.Registry.Put(context.Background(), fleettest.Org, rec); err != nil {
				t.Fatal(err)
			}
		}, "application_not_allowed"},
		{"recreated", func(t *testing.T, h *harness, id string) {
			if err := h.Store.DeleteCluster(context.Background(), fleettest.Org, id); err != nil {
				t.Fatal(err)
			}
			if _, created, err := h.Registry.Put(context.Background(), fleettest.Org, fleettest.Record(id, h.NS, clusters.Drift{})); err != nil || !created {
				t.Fatalf("re-create: %v %v", created, err)
			}
		}, string(jobs.RuleRecordChanged)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eachOn(t, 0, func(t *testing.T, ctx context.Context, h *harness, c *testbed.Cluster, id string) {
				blocker := h.spec("c-1", id, jobs.ActionApply, app("nextcloud", map[string]string{operator.OutcomeAnnotation: operator.OutcomeHang}))
				blocker.TimeoutSeconds = 5
				h.Submit(t, blocker)
				h.Submit(t, h.spec("c-2", id, jobs.ActionApply, configMap("rechecked", map[string]string{"a": "1"})))
				tc.change(t, h, id)
				j := h.Wait(t, "c-2", time.Minute)
				if j.Status != store.JobFailed || j.Error.Code != tc.code {
					t.Fatalf("job after the record changed: %s %+v, want %s", j.Status, j.Error, tc.code)
				}
				kube, _ := kubernetes.NewForConfig(c.AdminConfig())
				if _, err := kube.CoreV1().ConfigMaps(h.NS).Get(ctx, "rechecked", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
					t.Fatalf("the refused job wrote its ConfigMap: %v", err)
				}
			})
		})
	}
}

// TestOverPrivilegedCredentialRefused stores an admin kubeconfig for a
// cluster: its probe finds excess rights, the cluster is over-privileged,
// and its jobs are refused until the record accepts it.
func TestOverPrivilegedCredentialRefused(t *testing.T) {
	eachOn(t, 1, func(t *testing.T, ctx context.Context, h *harness, c *testbed.Cluster, id string) {
		admin := c.AdminConfig()
		if err := h.Registry.SaveCredential(id, &clusters.Credential{Server: admin.Host, CAData: admin.CAData, Token: admin.BearerToken}); err != nil {
			t.Fatal(err)
		}
		rec, err := h.Registry.Get(ctx, fleettest.Org, id)
		if err != nil {
			t.Fatal(err)
		}
		st, err := h.Monitor.Check(ctx, rec)
		if err != nil || !st.OverPrivileged() {
			t.Fatalf("admin credential not over-privileged: %+v %v", st.Credential, err)
		}
		_, _, err = h.Service.Submit(ctx, fleettest.Org, h.spec("p-1", id, jobs.ActionApply, configMap("p", map[string]string{"a": "1"})))
		var rule *jobs.RuleError
		if !errors.As(err, &rule) || rule.Code != jobs.RuleOverPrivileged {
			t.Fatalf("job on an over-privileged cluster: %v", err)
		}
		accepted := fleettest.Record(id, h.NS, clusters.Drift{})
		accepted.AcceptExcessRights = true
		if _, _, err := h.Registry.Put(ctx, fleettest.Org, accepted); err != nil {
			t.Fatal(err)
		}
		h.Submit(t, h.spec("p-2", id, jobs.ActionApply, configMap("p", map[string]string{"a": "1"})))
		if j := h.Wait(t, "p-2", time.Minute); j.Status != store.JobSucceeded {
			t.Fatalf("accepted: %s %+v", j.Status, j.Error)
		}
	})
}
