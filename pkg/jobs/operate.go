package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/cli-utils/pkg/object"

	"github.com/vworkspace/pushd/pkg/apply"
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/outcome"
	"github.com/vworkspace/pushd/pkg/store"
	"github.com/vworkspace/pushd/pkg/workers"
)

// Operate jobs. An operate job writes one-shot objects — usually a single
// custom resource such as a backup — into an inventory of its own (named
// from the job id), so it never prunes, changes or becomes its
// application's desired state, and the application's next apply never
// prunes it. Its outcome is judged from the live operation object by the
// result contract of its operation type (the record's allowed_operations
// entry: CEL rules, or the vWorkspace Operation contract, pkg/outcome): the
// job succeeds when the succeeded rule holds, fails operation_failed when
// the failed rule does, and times out otherwise; its result (outputs,
// conditions) travels in the job and its events. Once written, an
// operation's objects are never written again: a later attempt of the job
// (a retry, a restart of pushd, a lease taken over) resumes waiting on
// them (apply.Request.Resume).

// ActionOperate runs a one-shot operation (see above).
const ActionOperate = store.ActionOperate

// CodeOperationFailed: the operation's failed rule holds.
const CodeOperationFailed ErrorCode = "operation_failed"

// MaxOperateTimeoutSeconds bounds an operate job's timeout_seconds: the
// longest max_duration_seconds a type may have, seven days.
const MaxOperateTimeoutSeconds = clusters.MaxMaxDurationSeconds

// Result is what an operate job's operation reported: the outputs its
// type's rules name, the custom resource's own conditions, and when it was
// last looked at. Nil for other jobs and before the object was observed.
type Result struct {
	Outputs    map[string]any      `json:"outputs"`
	Conditions []outcome.Condition `json:"conditions"`
	// Problems are the rules that could not be evaluated (an output left
	// out, a rule over its cost budget), so a record's author can tell.
	Problems   []string  `json:"problems"`
	ObservedAt time.Time `json:"observed_at"`
}

// operationObject is the index of the manifest an operate job's outcome is
// read from: the first outside the core API group (a custom resource, or a
// batch Job), so supporting ConfigMaps and Secrets may come with it but are
// never judged, and their data never reaches an output.
func operationObject(manifests []*unstructured.Unstructured) int {
	for i, u := range manifests {
		if u.GroupVersionKind().Group != "" {
			return i
		}
	}
	return -1
}

// operation follows one operate run: it judges the operation object each
// time the engine's status watcher sees it change (apply.Judge) and keeps
// the last verdict, which the run's progress and its end record.
type operation struct {
	id     object.ObjMetadata
	rules  *outcome.OperationRules
	redact func(string) string
	wake   func()
	now    func() time.Time

	mu      sync.Mutex
	verdict *outcome.Verdict
	at      time.Time
}

// newOperation is the follower of job's operation, judged by entry's
// rules; objs are the job's objects as pushd writes them.
func newOperation(entry clusters.Operation, objs []*unstructured.Unstructured, now func() time.Time) (*operation, error) {
	i := operationObject(objs)
	if i < 0 {
		return nil, fmt.Errorf("no operation object: an operate job needs a custom resource (a manifest outside the core API group)")
	}
	rules, err := entry.Rules()
	if err != nil {
		return nil, err
	}
	return &operation{id: object.UnstructuredToObjMetadata(objs[i]), rules: rules, redact: apply.Redact(objs), wake: func() {}, now: now}, nil
}

// judge is the run's apply.Judge.
func (o *operation) judge(u *unstructured.Unstructured) (status.Result, bool) {
	if object.UnstructuredToObjMetadata(u) != o.id {
		return status.Result{}, false
	}
	v := o.rules.Evaluate(u.Object)
	o.mu.Lock()
	o.verdict, o.at = &v, o.now().UTC()
	o.mu.Unlock()
	o.wake()
	msg := o.redact(v.Message)
	switch v.State {
	case outcome.Succeeded:
		return status.Result{Status: status.CurrentStatus, Message: cut("operation succeeded", msg)}, true
	case outcome.Failed:
		return status.Result{Status: status.FailedStatus, Message: cut("operation failed", msg)}, true
	}
	return status.Result{Status: status.InProgressStatus, Message: cut("operation running", msg)}, true
}

func cut(what, msg string) string {
	if msg == "" {
		return what
	}
	return what + ": " + msg
}

// last is the result of the last verdict, nil before the first.
func (o *operation) last() *Result {
	o.mu.Lock()
	v, at := o.verdict, o.at
	o.mu.Unlock()
	if v == nil {
		return nil
	}
	r := &Result{Outputs: map[string]any{}, Conditions: make([]outcome.Condition, 0, len(v.Conditions)), Problems: []string{}, ObservedAt: at}
	for name, val := range v.Outputs {
		r.Outputs[name] = o.redactValue(val)
	}
	for _, c := range v.Conditions {
		c.Message = o.redact(c.Message)
		r.Conditions = append(r.Conditions, c)
	}
	for _, p := range v.Problems {
		r.Problems = append(r.Problems, o.redact(p))
	}
	return r
}

// message is the last verdict's message, redacted.
func (o *operation) message() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.verdict == nil || o.verdict.Message == "" {
		return "its failed rule holds"
	}
	return o.redact(o.verdict.Message)
}

// state is the last verdict's state, Running before the first.
func (o *operation) state() outcome.State {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.verdict == nil {
		return outcome.Running
	}
	return o.verdict.State
}

// redactValue passes an output through the redactor, as JSON: a value
// that no longer parses once a Secret's value is cut out is replaced.
func (o *operation) redactValue(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	s := o.redact(string(b))
	if s == string(b) {
		return v
	}
	var out any
	if json.Unmarshal([]byte(s), &out) != nil {
		return "[redacted]"
	}
	return out
}

// resultJSON is the stored form of r ("" for nil).
func resultJSON(r *Result) string {
	if r == nil {
		return ""
	}
	b, _ := json.Marshal(r)
	return string(b)
}

// resultOf decodes a stored result; nil when none.
func resultOf(row *store.Job) *Result {
	if row.Result == "" {
		return nil
	}
	var r Result
	if json.Unmarshal([]byte(row.Result), &r) != nil {
		return nil
	}
	return &r
}

// cleanupAfter is when an operate job that ends now has its objects
// deleted: its type's time to live after now, or now when its record no
// longer allows the type (or is gone); nil for other jobs. Every way a job
// ends sets it: a run, a panic, a cancel or a deadline passed while the
// job waited to be tried again, as an attempt may have written.
func cleanupAfter(ctx context.Context, cs Clusters, job *store.Job, now time.Time) *time.Time {
	if job.Action != ActionOperate {
		return nil
	}
	at := now
	if rec, err := cs.Get(ctx, job.Organization, job.Cluster); err == nil && rec.UID == job.ClusterUID {
		if entry, ok := rec.AllowedOperation(job.Engine, job.Type); ok {
			at = now.Add(entry.TTLAfterFinished())
		}
	}
	return &at
}

// CleanupInterval is how often the runner looks for operations whose time
// to live after they finished has passed.
const CleanupInterval = time.Minute

// cleanups starts, for each cluster with operations due to be deleted and
// reachable, a worker of cleaners that deletes them (cleanup).
func (r *Runner) cleanups(ctx context.Context, cleaners *workers.Set) {
	now := r.opts.Now()
	cs, err := r.store.ClustersWithCleanups(ctx, now)
	if err != nil {
		if ctx.Err() == nil {
			r.opts.Logger.Warn("look for operations to clean up", "err", err)
		}
		return
	}
	for _, cluster := range cs {
		if cleaners.Running(cluster) > 0 || cleaners.Held(cluster, now) || !r.monitor.Allow(cluster) {
			continue
		}
		cleaners.Go(cluster, func() { r.cleanup(ctx, cluster) }, nil)
	}
}

// cleanup deletes the objects and the inventory of the cluster's finished
// operations whose time to live passed, a few at a time; one that fails is
// tried again at the next round. The jobs and their results stay (job
// retention deletes them).
func (r *Runner) cleanup(ctx context.Context, cluster string) {
	due, err := r.store.CleanupsDue(ctx, cluster, r.opts.Now(), 20)
	if err != nil || len(due) == 0 {
		return
	}
	engine, err := r.engines.Applier(cluster)
	if err != nil {
		r.opts.Logger.Warn("clean up operations", "cluster", cluster, "err", err)
		return
	}
	for _, job := range due {
		res, err := engine.Destroy(ctx, apply.Request{Namespace: job.Namespace, Application: job.Application, Operation: job.ID})
		if err != nil {
			r.opts.Logger.Warn("operation's objects not deleted after their time to live; tried again later", "cluster", cluster, "job", job.ID, "err", err)
			continue
		}
		if err := r.store.MarkCleaned(ctx, job.Seq, r.opts.Now()); err != nil {
			r.opts.Logger.Warn("operation cleanup not recorded", "cluster", cluster, "job", job.ID, "err", err)
			continue
		}
		r.opts.Logger.Info("operation's objects deleted after their time to live", "cluster", cluster, "job", job.ID, "objects", len(res.Objects))
	}
}
