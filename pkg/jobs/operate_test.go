package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/internal/fleettest"
	"github.com/vworkspace/pushd/internal/logbuf"
	"github.com/vworkspace/pushd/internal/testbed"
	"github.com/vworkspace/pushd/internal/testbed/operator"
	"github.com/vworkspace/pushd/pkg/apply"
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/jobs"
	"github.com/vworkspace/pushd/pkg/store"
)

// backupType is an operation type under the vWorkspace Operation contract
// (no rules: conditions Succeeded/Failed, outputs from status.outputs).
var backupType = clusters.Operation{Engine: "vworkspace", Type: "backup"}

// veleroType judges a Velero-shaped Backup, which reports only a phase
// (no conditions, no observedGeneration), by CEL rules.
var veleroType = clusters.Operation{Engine: "velero", Type: "backup", MaxDurationSeconds: 7200,
	Succeeded: "object.status.phase == 'Completed'",
	Failed:    "object.status.phase in ['PartiallyFailed', 'Failed', 'FailedValidation']",
	Message:   "'phase ' + object.status.phase",
	Outputs:   map[string]string{"name": "object.metadata.name", "items": "object.status.progress.itemsBackedUp"},
}

// opEnv is pushd's job machinery on one database and one test-bed
// cluster, allowed to write Velero Backups too, with its logs kept and a
// runner the test may restart.
type opEnv struct {
	*fleettest.Fleet
	c      *testbed.Cluster
	ns, id string
	uid    string
	logs   *logbuf.Buffer
	svc    *jobs.Service
	stop   func() // stops the running runner
}

var operateKinds = append(jobs.DefaultAllowedKinds(), operator.BackupKind)

func newOpEnv(t *testing.T, db dbtest.Database, c *testbed.Cluster, types ...clusters.Operation) *opEnv {
	t.Helper()
	logs := &logbuf.Buffer{}
	f := fleettest.New(t, db, fleettest.Options{Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	e := &opEnv{Fleet: f, c: c, ns: "t-" + fleettest.RandomID(), logs: logs}
	e.id = f.EnrollManaged(t, e.ns, clusters.Drift{}, c)[0]
	grantBackups(t, c, e.ns, "pushd-"+e.id)
	ctx := context.Background()
	rec, err := f.Registry.Get(ctx, fleettest.Org, e.id)
	if err != nil {
		t.Fatal(err)
	}
	rec.AllowedOperations = append(rec.AllowedOperations, types...)
	rec.AcceptExcessRights = true // the Role on Backups below is a right bootstrap does not grant
	if _, _, err := f.Registry.Put(ctx, fleettest.Org, *rec); err != nil {
		t.Fatal(err)
	}
	if rec, err = f.Registry.Get(ctx, fleettest.Org, e.id); err != nil {
		t.Fatal(err)
	}
	e.uid = rec.UID
	e.svc = jobs.NewService(f.Store, f.Registry, f.Monitor, jobs.ServiceOptions{AllowedKinds: operateKinds, Notify: func() {}})
	e.start(t)
	t.Cleanup(func() { e.stop() })
	return e
}

// eachOp runs fn on both databases with an opEnv on the test bed's
// cluster i, allowing types, and a context that ends with the subtest.
func eachOp(t *testing.T, i int, types []clusters.Operation, fn func(t *testing.T, ctx context.Context, e *opEnv)) {
	t.Helper()
	dbtest.EachContext(t, func(t *testing.T, ctx context.Context, db dbtest.Database) {
		fn(t, ctx, newOpEnv(t, db, bed.Clusters()[i], types...))
	})
}

// start starts a runner; the one running before must be stopped.
func (e *opEnv) start(t *testing.T) {
	runner := jobs.NewRunner(e.Store, e.Registry, jobs.EnginesOf(apply.NewEngines(e.Registry, apply.Options{Logger: e.Logger})), e.Monitor,
		jobs.RunnerOptions{Poll: 100 * time.Millisecond, Lease: 2 * time.Second, Logger: e.Logger, RetryBackoff: 300 * time.Millisecond,
			AllowedKinds: operateKinds, CleanupInterval: 200 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { runner.Run(ctx); close(done) }()
	e.stop = func() { cancel(); <-done }
}

func (e *opEnv) submit(t *testing.T, s jobs.Spec) {
	t.Helper()
	if _, _, err := e.svc.Submit(context.Background(), fleettest.Org, s); err != nil {
		t.Fatalf("submit %s: %v", s.ID, err)
	}
}

func (e *opEnv) get(t *testing.T, id string) *jobs.Job {
	t.Helper()
	j, err := e.svc.Get(context.Background(), fleettest.Org, id)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// wait returns the job once it is terminal.
func (e *opEnv) wait(t *testing.T, id string, within time.Duration) *jobs.Job {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		j := e.get(t, id)
		if j.Status == store.JobSucceeded || j.Status == store.JobFailed || j.Status == store.JobCancelled {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still %s after %s", id, j.Status, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (e *opEnv) spec(id, action string, op clusters.Operation, manifests ...json.RawMessage) jobs.Spec {
	return jobs.Spec{ID: id, Cluster: e.id, Operation: jobs.Operation{Engine: op.Engine, Type: op.Type}, Application: "mattermost",
		Namespace: e.ns, Action: action, Manifests: manifests, TimeoutSeconds: 60}
}

// grantBackups lets the cluster's ServiceAccount write Velero Backups in
// ns, as an operator of a cluster running Velero would.
func grantBackups(t *testing.T, c *testbed.Cluster, ns, sa string) {
	t.Helper()
	ctx := context.Background()
	admin := fleettest.AdminClient(t, c)
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "velero-backups"}, Rules: []rbacv1.PolicyRule{{
		APIGroups: []string{operator.BackupKind.Group}, Resources: []string{"backups"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}}}}
	if _, err := admin.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "velero-backups"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa, Namespace: "vworkspace-pushd"}},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "velero-backups"}}
	if _, err := admin.RbacV1().RoleBindings(ns).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func operationCR(name string, annotations map[string]string) json.RawMessage {
	return manifest("vworkspace.io/v1alpha1", "Operation", name, annotations, map[string]any{"spec": map[string]any{"action": "backup"}})
}

func backupCR(name string, annotations map[string]string) json.RawMessage {
	return manifest("velero.io/v1", "Backup", name, annotations, map[string]any{"spec": map[string]any{"includedNamespaces": []string{"mattermost"}}})
}

func dynamicFor(t *testing.T, c *testbed.Cluster, gvr schema.GroupVersionResource, ns string) dynamic.ResourceInterface {
	t.Helper()
	d, err := dynamic.NewForConfig(c.AdminConfig())
	if err != nil {
		t.Fatal(err)
	}
	return d.Resource(gvr).Namespace(ns)
}

// resourceVersions are the live resourceVersions of the ConfigMaps and
// the Application named.
func resourceVersions(t *testing.T, c *testbed.Cluster, ns string, configMaps []string) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	for _, name := range configMaps {
		cm, err := fleettest.AdminClient(t, c).CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out["ConfigMap/"+name] = cm.ResourceVersion
	}
	u, err := dynamicFor(t, c, operator.Applications, ns).Get(ctx, "mattermost", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out["Application/mattermost"] = u.GetResourceVersion()
	return out
}

func hasCondition(r *jobs.Result, typ, status string) bool {
	if r == nil {
		return false
	}
	for _, c := range r.Conditions {
		if c.Type == typ && c.Status == status {
			return true
		}
	}
	return false
}

// assertNowhere fails when s is in a job's API answer, in any event or in
// the logs.
func (e *opEnv) assertNowhere(t *testing.T, s string, ids ...string) {
	t.Helper()
	for _, id := range ids {
		b, _ := json.Marshal(e.get(t, id))
		if strings.Contains(string(b), s) {
			t.Errorf("job %s shows %q: %s", id, s, b)
		}
	}
	events, err := e.Store.Events(context.Background(), e.id, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range events {
		if strings.Contains(ev.Data, s) {
			t.Errorf("event %s shows %q", ev.Type, s)
		}
	}
	if strings.Contains(e.logs.String(), s) {
		t.Errorf("the logs show %q", s)
	}
}

// TestOperateLeavesItsApplication: an operation beside a 10-object
// application touches none of its objects and is no intent of it; it
// reports the outputs its Operation declares and nothing else of its
// status (a canary there appears in no job, event or log); the
// application's next apply does not prune it; its objects are deleted
// once their time to live after the job passed, and the job stays.
func TestOperateLeavesItsApplication(t *testing.T) {
	ttl := 2
	quick := backupType
	quick.TTLSecondsAfterFinished = &ttl
	eachOp(t, 0, []clusters.Operation{quick}, func(t *testing.T, ctx context.Context, e *opEnv) {
		c := e.c

		var desired []json.RawMessage
		var names []string
		for i := range 9 {
			names = append(names, fmt.Sprintf("cfg-%d", i))
			desired = append(desired, configMap(names[i], map[string]string{"n": fmt.Sprint(i)}))
		}
		desired = append(desired, app("mattermost", nil))
		deploy := e.spec("deploy-1", jobs.ActionApply, clusters.Operation{Engine: "manifest", Type: "deploy"}, desired...)
		e.submit(t, deploy)
		if j := e.wait(t, "deploy-1", time.Minute); j.Status != store.JobSucceeded {
			t.Fatalf("deploy: %s %+v", j.Status, j.Error)
		}
		before := resourceVersions(t, c, e.ns, names)

		const canary = "canary-7f3a9c"
		e.submit(t, e.spec("backup-1", jobs.ActionOperate, backupType, operationCR("nightly", map[string]string{
			operator.DelayAnnotation:   "1500ms",
			operator.OutputsAnnotation: `{"archive":"s3://backups/mattermost/nightly.tar"}`,
			operator.StatusAnnotation:  `{"debugToken":"` + canary + `"}`,
		})))
		j := e.wait(t, "backup-1", time.Minute)
		if j.Status != store.JobSucceeded {
			t.Fatalf("operate: %s %+v", j.Status, j.Error)
		}
		if j.Result == nil || j.Result.Outputs["archive"] != "s3://backups/mattermost/nightly.tar" || len(j.Result.Outputs) != 1 {
			t.Fatalf("result: %+v", j.Result)
		}
		if !hasCondition(j.Result, "Succeeded", "True") {
			t.Errorf("conditions: %+v", j.Result.Conditions)
		}
		events := jobEvents(t, e.Store, e.id, "backup-1")
		if last := events[len(events)-1]; last.Status != store.JobSucceeded || last.Result == nil || last.Result.Outputs["archive"] == nil {
			t.Errorf("terminal event: %s %+v", last.Status, last.Result)
		}
		if after := resourceVersions(t, c, e.ns, names); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Errorf("the operation changed the application's objects:\nbefore %v\nafter  %v", before, after)
		}
		if latest, err := e.Store.LatestIntent(ctx, e.uid, e.ns, "mattermost"); err != nil || latest.ID != "deploy-1" {
			t.Errorf("latest intent: %v %v", latest, err)
		}

		redeploy := deploy
		redeploy.ID = "deploy-2"
		e.submit(t, redeploy)
		if j := e.wait(t, "deploy-2", time.Minute); j.Status != store.JobSucceeded {
			t.Fatalf("redeploy: %s %+v", j.Status, j.Error)
		}
		ops := dynamicFor(t, c, operator.Operations, e.ns)
		if n := operator.For(c.Host).Created(operator.Operations, e.ns, "nightly"); n != 1 {
			t.Errorf("operation created %d times", n)
		}
		e.assertNowhere(t, canary, "backup-1")

		// Its time to live passed: the objects go, the job and its result stay.
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			_, err := ops.Get(ctx, "nightly", metav1.GetOptions{})
			if err != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the operation's object outlived its time to live")
			}
		}
		if j := e.get(t, "backup-1"); j.Status != store.JobSucceeded || j.Result == nil {
			t.Errorf("after cleanup: %s %+v", j.Status, j.Result)
		}
		if after := resourceVersions(t, c, e.ns, names); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Errorf("the cleanup changed the application's objects")
		}
	})
}

// TestOperateVeleroBackup: a Backup that reports only a phase is running
// until its rule sees Completed, then succeeds with the outputs the rules
// declare, in the job and its callback; PartiallyFailed fails
// operation_failed with the rule's message.
func TestOperateVeleroBackup(t *testing.T) {
	eachOp(t, 1, []clusters.Operation{veleroType}, func(t *testing.T, _ context.Context, e *opEnv) {

		e.submit(t, e.spec("velero-1", jobs.ActionOperate, veleroType, backupCR("daily", map[string]string{
			operator.DelayAnnotation: "3s", operator.ItemsAnnotation: "42",
		})))
		// Running while the phase is InProgress; kstatus alone would have called it Current.
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			j := e.get(t, "velero-1")
			if j.Status != store.JobQueued && j.Status != store.JobRunning {
				t.Fatalf("ended before the backup completed: %s %+v", j.Status, j.Error)
			}
			if j.Status == store.JobRunning && j.Result != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("no result while running")
			}
		}
		j := e.wait(t, "velero-1", time.Minute)
		if j.Status != store.JobSucceeded {
			t.Fatalf("backup: %s %+v", j.Status, j.Error)
		}
		if got := fmt.Sprint(j.Result.Outputs); got != "map[items:42 name:daily]" {
			t.Errorf("outputs %s", got)
		}
		events := jobEvents(t, e.Store, e.id, "velero-1")
		if last := events[len(events)-1]; last.Result == nil || fmt.Sprint(last.Result.Outputs) != "map[items:42 name:daily]" {
			t.Errorf("callback result: %+v", last.Result)
		}

		e.submit(t, e.spec("velero-2", jobs.ActionOperate, veleroType, backupCR("partial", map[string]string{
			operator.DelayAnnotation: "500ms", operator.PhaseAnnotation: "PartiallyFailed",
		})))
		j = e.wait(t, "velero-2", time.Minute)
		if j.Status != store.JobFailed || j.Error == nil || j.Error.Code != string(jobs.CodeOperationFailed) || !strings.Contains(j.Error.Message, "phase PartiallyFailed") {
			t.Fatalf("partially failed backup: %s %+v", j.Status, j.Error)
		}
	})
}

// TestOperateTimeouts: an operate job may wait as long as its type allows
// (2 h here), an apply at most an hour; a type without max_duration_seconds
// allows an hour.
func TestOperateTimeouts(t *testing.T) {
	eachOp(t, 2, []clusters.Operation{veleroType, backupType}, func(t *testing.T, ctx context.Context, e *opEnv) {
		e.stop() // nothing here needs to run
		e.stop = func() {}

		long := e.spec("long", jobs.ActionOperate, veleroType, backupCR("long", nil))
		long.TimeoutSeconds = 7200
		if _, _, err := e.svc.Submit(ctx, fleettest.Org, long); err != nil {
			t.Errorf("2 h operate job refused: %v", err)
		}
		dflt := e.spec("default", jobs.ActionOperate, veleroType, backupCR("default", nil))
		dflt.TimeoutSeconds = 0
		if j, _, err := e.svc.Submit(ctx, fleettest.Org, dflt); err != nil || j.TimeoutSeconds != 7200 {
			t.Errorf("default timeout: %v %v", j, err)
		}
		apply := e.spec("apply", jobs.ActionApply, clusters.Operation{Engine: "manifest", Type: "deploy"}, configMap("c", nil))
		apply.TimeoutSeconds = 7200
		var field *jobs.FieldError
		if _, _, err := e.svc.Submit(ctx, fleettest.Org, apply); !errors.As(err, &field) || field.Field != "timeout_seconds" {
			t.Errorf("2 h apply job: %v", err)
		}
		short := e.spec("short", jobs.ActionOperate, backupType, operationCR("short", nil))
		short.TimeoutSeconds = 7200
		var rule *jobs.RuleError
		if _, _, err := e.svc.Submit(ctx, fleettest.Org, short); !errors.As(err, &rule) || rule.Code != jobs.RuleTimeoutTooLong {
			t.Errorf("2 h on a type of one hour: %v", err)
		}
		bare := e.spec("bare", jobs.ActionOperate, backupType, configMap("only-data", nil))
		if _, _, err := e.svc.Submit(ctx, fleettest.Org, bare); !errors.As(err, &rule) || rule.Code != jobs.RuleNoOperationObject {
			t.Errorf("no operation object: %v", err)
		}
	})
}

// TestOperateResumesAfterRestart: pushd stops while an operation runs; the
// runner that takes the job up again waits on the operation it finds and
// never creates it a second time.
func TestOperateResumesAfterRestart(t *testing.T) {
	eachOp(t, 0, []clusters.Operation{backupType}, func(t *testing.T, ctx context.Context, e *opEnv) {
		c := e.c
		e.submit(t, e.spec("resume-1", jobs.ActionOperate, backupType, operationCR("resume", map[string]string{
			operator.DelayAnnotation: "4s", operator.OutputsAnnotation: `{"size":"1Gi"}`,
		})))
		ops := dynamicFor(t, c, operator.Operations, e.ns)
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if _, err := ops.Get(ctx, "resume", metav1.GetOptions{}); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("operation never created")
			}
		}
		e.stop() // its lease lapses; a new runner takes the job over
		first, _ := ops.Get(ctx, "resume", metav1.GetOptions{})
		e.start(t)
		j := e.wait(t, "resume-1", time.Minute)
		if j.Status != store.JobSucceeded || j.Result == nil || j.Result.Outputs["size"] != "1Gi" {
			t.Fatalf("resumed operation: %s %+v %+v", j.Status, j.Error, j.Result)
		}
		if j.Attempt < 2 {
			t.Errorf("attempt %d: the job was not taken over", j.Attempt)
		}
		now, err := ops.Get(ctx, "resume", metav1.GetOptions{})
		if err != nil || now.GetUID() != first.GetUID() {
			t.Errorf("the operation was replaced: %v", err)
		}
		if n := operator.For(c.Host).Created(operator.Operations, e.ns, "resume"); n != 1 {
			t.Errorf("operation created %d times", n)
		}
	})
}

// TestRequestCompletedOnce: a request with jobs on two clusters, one of
// them down until its job fails at its deadline, is announced completed
// exactly once, with each cluster's outcome, after its last job ended.
func TestRequestCompletedOnce(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		ctx := context.Background()
		up, down := bed.Clusters()[1], bed.Clusters()[2]
		h := newHarness(t, db, up, down)
		fleettest.Outage(t, down)

		a := h.spec("req-up", h.IDs[0], jobs.ActionApply, configMap("cfg", map[string]string{"a": "1"}))
		b := h.spec("req-down", h.IDs[1], jobs.ActionApply, configMap("cfg", map[string]string{"a": "1"}))
		a.RequestID, b.RequestID = "upgrade-42", "upgrade-42"
		b.TimeoutSeconds = 4
		h.Jobs.Submit(t, a)
		h.Jobs.Submit(t, b)
		if j := h.Jobs.Wait(t, "req-up", time.Minute); j.Status != store.JobSucceeded {
			t.Fatalf("up: %s %+v", j.Status, j.Error)
		}
		if view, err := h.Jobs.Service.Request(ctx, fleettest.Org, "upgrade-42"); err != nil || view.Completed {
			t.Fatalf("completed while a job is unfinished: %+v %v", view, err)
		}
		if j := h.Jobs.Wait(t, "req-down", time.Minute); j.Status != store.JobFailed {
			t.Fatalf("down: %s %+v", j.Status, j.Error)
		}
		time.Sleep(500 * time.Millisecond) // nothing more is to come
		var completed []jobs.RequestView
		events, err := h.Store.Events(ctx, "", 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range events {
			if ev.Type == jobs.EventRequestCompleted {
				var v jobs.RequestView
				if err := json.Unmarshal([]byte(ev.Data), &v); err != nil {
					t.Fatal(err)
				}
				completed = append(completed, v)
				if ev.Cluster != h.IDs[1] {
					t.Errorf("request.completed sent for cluster %q, want the last job's %q", ev.Cluster, h.IDs[1])
				}
			}
		}
		if len(completed) != 1 {
			t.Fatalf("%d request.completed events, want 1", len(completed))
		}
		v := completed[0]
		if !v.Completed || v.Total != 2 || v.Counts[store.JobSucceeded] != 1 || v.Counts[store.JobFailed] != 1 {
			t.Errorf("request.completed: %+v", v)
		}
		if view, err := h.Jobs.Service.Request(ctx, fleettest.Org, "upgrade-42"); err != nil || !view.Completed {
			t.Errorf("GET view: %+v %v", view, err)
		}
	})
}

// TestHealthRuleJudgesApply: an apply job writing a condition-less Backup
// waits for the record's health rule of the kind (kstatus alone calls it
// Current at once), and fails when the rule's failed expression holds.
func TestHealthRuleJudgesApply(t *testing.T) {
	eachOp(t, 2, nil, func(t *testing.T, ctx context.Context, e *opEnv) {
		rec, err := e.Registry.Get(ctx, fleettest.Org, e.id)
		if err != nil {
			t.Fatal(err)
		}
		rec.Health = []clusters.HealthRule{{Group: operator.BackupGroup, Kind: "Backup",
			Current: "object.status.phase == 'Completed'", Failed: "object.status.phase == 'Failed'"}}
		if _, _, err := e.Registry.Put(ctx, fleettest.Org, *rec); err != nil {
			t.Fatal(err)
		}
		deploy := clusters.Operation{Engine: "manifest", Type: "deploy"}
		e.submit(t, e.spec("held", jobs.ActionApply, deploy, backupCR("held", map[string]string{operator.DelayAnnotation: "2s"})))
		start := time.Now()
		j := e.wait(t, "held", time.Minute)
		if j.Status != store.JobSucceeded {
			t.Fatalf("apply: %s %+v", j.Status, j.Error)
		}
		if took := time.Since(start); took < 2*time.Second {
			t.Errorf("succeeded after %s, before the Backup completed", took)
		}
		e.submit(t, e.spec("failing", jobs.ActionApply, deploy, backupCR("failing", map[string]string{
			operator.DelayAnnotation: "500ms", operator.OutcomeAnnotation: operator.OutcomeFail})))
		if j := e.wait(t, "failing", time.Minute); j.Status != store.JobFailed || j.Error.Code != string(jobs.CodeObjectFailed) {
			t.Fatalf("failing backup: %s %+v", j.Status, j.Error)
		}
	})
}
