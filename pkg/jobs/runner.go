package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/vworkspace/pushd/pkg/apply"
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/inventory"
	"github.com/vworkspace/pushd/pkg/outcome"
	"github.com/vworkspace/pushd/pkg/store"
	"github.com/vworkspace/pushd/pkg/workers"
)

// Applier applies and destroys one cluster's applications (*apply.Engine;
// FakeApplier in tests).
type Applier interface {
	Apply(ctx context.Context, req apply.Request) (*apply.Result, error)
	Destroy(ctx context.Context, req apply.Request) (*apply.Result, error)
}

// Engines gives the runner a cluster's Applier: EnginesOf(*apply.Engines),
// or FakeEngines.
type Engines interface {
	Applier(cluster string) (Applier, error)
}

var _ Applier = (*apply.Engine)(nil)

// EnginesOf is the runner's view of pkg/apply's engines.
func EnginesOf(e *apply.Engines) Engines { return applyEngines{e} }

type applyEngines struct{ e *apply.Engines }

func (a applyEngines) Applier(cluster string) (Applier, error) {
	engine, err := a.e.Engine(cluster)
	if err != nil {
		return nil, err
	}
	return engine, nil
}

// Defaults of RunnerOptions (and of --jobs-per-cluster and --job-lease).
const (
	// DefaultPerCluster: a job spends most of its time waiting on round
	// trips, so 16 jobs keep a cluster's API server busy without
	// crowding it (README, Performance).
	DefaultPerCluster = 16
	DefaultLease      = 30 * time.Second
)

// RunnerOptions tune the workers.
type RunnerOptions struct {
	// PerCluster bounds the jobs running at once on one cluster. Default
	// DefaultPerCluster.
	PerCluster int
	// Lease is how long a claim holds without renewal; a job whose worker
	// died is taken up again after it. Default 30s.
	Lease time.Duration
	// Poll is how often the queue is looked at without a notification. Default 1s.
	Poll time.Duration
	// Owner names this process in leases. Default hostname-pid-random.
	Owner string
	// Notify is called after events were written (wakes the outbox).
	Notify func()
	// Metrics, when set, counts finished jobs and their durations.
	Metrics *Metrics
	// AllowedKinds a job may write, checked again when it is claimed;
	// DefaultAllowedKinds when nil (as ServiceOptions.AllowedKinds).
	AllowedKinds []schema.GroupKind
	// RetryBackoff is the first wait before a transient failure is retried;
	// it doubles up to RetryBackoff*16. Default 1s.
	RetryBackoff time.Duration
	// ProgressInterval bounds how often a running job's progress (its
	// objects so far) is written to the store. Default 1s.
	ProgressInterval time.Duration
	// CleanupInterval is how often finished operations whose time to live
	// passed are looked for and deleted. Default CleanupInterval.
	CleanupInterval time.Duration
	Logger          *slog.Logger
	Now             func() time.Time
}

func (o *RunnerOptions) defaults() {
	if o.PerCluster <= 0 {
		o.PerCluster = DefaultPerCluster
	}
	if o.Lease <= 0 {
		o.Lease = DefaultLease
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if o.Owner == "" {
		host, _ := os.Hostname()
		o.Owner = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), uuid.NewString()[:8])
	}
	if o.Notify == nil {
		o.Notify = func() {}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.AllowedKinds == nil {
		o.AllowedKinds = DefaultAllowedKinds()
	}
	if o.RetryBackoff <= 0 {
		o.RetryBackoff = time.Second
	}
	if o.ProgressInterval <= 0 {
		o.ProgressInterval = time.Second
	}
	if o.CleanupInterval <= 0 {
		o.CleanupInterval = CleanupInterval
	}
}

// Runner claims queued jobs and runs them, each cluster's on its own workers.
type Runner struct {
	scope
	store   *store.Store
	engines Engines
	opts    RunnerOptions
	wake    chan struct{}
	started atomic.Bool
	// held are the clusters whose jobs were marked waiting; only the
	// dispatch loop touches it.
	held map[string]bool
}

// NewRunner builds a runner; cs and mon are the records and the monitor
// each claimed job is checked against again.
func NewRunner(st *store.Store, cs Clusters, engines Engines, mon Monitor, opts RunnerOptions) *Runner {
	opts.defaults()
	return &Runner{scope: scope{clusters: cs, monitor: mon, allowed: opts.AllowedKinds}, store: st, engines: engines, opts: opts,
		wake: make(chan struct{}, 1), held: map[string]bool{}}
}

// Notify wakes the runner: a job was queued.
func (r *Runner) Notify() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run dispatches jobs until ctx ends, then waits for the jobs in flight,
// which stop as ctx ends (their leases expire and another process, or this
// one after a restart, takes them up again). The jobs run as
// workers of this loop (workers.Set), at most PerCluster per cluster.
func (r *Runner) Run(ctx context.Context) {
	r.started.Store(true)
	defer r.started.Store(false)
	running := workers.New("job", r.opts.Logger)
	defer running.Wait()
	cleaners := workers.New("cleanup", r.opts.Logger)
	defer cleaners.Wait()
	tick := time.NewTicker(r.opts.Poll)
	defer tick.Stop()
	cleanTick := time.NewTicker(r.opts.CleanupInterval)
	defer cleanTick.Stop()
	for {
		r.dispatch(ctx, running)
		select {
		case <-ctx.Done():
			return
		case f := <-running.Done(): // a slot is free, and the application's next job may be runnable
			running.Finished(f, r.opts.Now())
		case f := <-cleaners.Done():
			cleaners.Finished(f, r.opts.Now())
		case <-cleanTick.C: // operations may have outlived their time to live
			r.cleanups(ctx, cleaners)
		case <-tick.C: // leases of other processes' jobs may have expired
		case <-r.wake: // a job was queued
		}
	}
}

// Started is a readiness check: nil while Run is dispatching.
func (r *Runner) Started(context.Context) error {
	if !r.started.Load() {
		return errors.New("job workers not running")
	}
	return nil
}

// dispatch claims as many jobs as each cluster has free slots for. Claims
// are quick database transactions; the cluster is only touched by the job
// goroutines, so a slow cluster never holds up another's dispatch.
func (r *Runner) dispatch(ctx context.Context, running *workers.Set) {
	now := r.opts.Now()
	cs, err := r.store.ClustersWithWork(ctx, now)
	if err != nil {
		if ctx.Err() == nil {
			r.opts.Logger.Warn("look for work", "err", err)
		}
		return
	}
	for _, cluster := range cs {
		if running.Held(cluster, now) {
			continue // a job of it panicked: its next ones wait out the backoff
		}
		if !r.monitor.Allow(cluster) {
			r.hold(ctx, cluster) // its jobs wait, and those past their deadline fail
			continue
		}
		r.release(ctx, cluster)
		for running.Running(cluster) < r.opts.PerCluster {
			job, err := r.store.ClaimJob(ctx, cluster, r.opts.Owner, r.opts.Now(), r.opts.Lease)
			if err != nil {
				if ctx.Err() == nil {
					r.opts.Logger.Warn("claim job", "cluster", cluster, "err", err)
				}
				break
			}
			if job == nil {
				break
			}
			running.Go(cluster, func() { r.execute(ctx, job) }, func(p any) { r.failPanicked(ctx, job, p) })
		}
	}
}

// execute runs one claimed job to its terminal state, unless its claim is
// taken over (fenced), a transient failure puts it back in the queue to be
// tried again (requeue), or the process stops first.
func (r *Runner) execute(ctx context.Context, job *store.Job) {
	log := r.opts.Logger.With("cluster", job.Cluster, "job", job.ID, "attempt", job.Attempt)
	log.Info("job started", "namespace", job.Namespace, "application", job.Application, "action", job.Action)
	prior := priorRetries(job)
	var started []*store.Event
	if len(prior) == 0 { // a retry's start was announced by its first attempt
		started = append(started, statusEvent(job))
	}
	if err := r.store.StartJob(ctx, claimOf(job), r.opts.Now(), started...); err != nil {
		log.Warn("job claim lost before it started", "err", err)
		return
	}
	r.opts.Notify()

	claimed := time.Now()
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var hb sync.WaitGroup
	hb.Go(func() {
		workers.Guard(r.opts.Logger, "job", job.Cluster, func() { r.heartbeat(runCtx, job, cancel) }, nil)
	})
	prog := r.startProgress(runCtx, job)
	defer prog.stop()
	res, err := r.attempt(runCtx, job, prog, len(prior))
	cancel(nil)
	hb.Wait()
	prog.stop()
	if ctx.Err() != nil {
		log.Info("job interrupted by shutdown; it resumes after its lease expires")
		return
	}
	var again *retryLater
	if errors.As(err, &again) {
		r.requeue(ctx, job, res, prior, again)
		return
	}

	final := *job
	now := r.opts.Now().UTC().Truncate(time.Microsecond) // as PostgreSQL keeps it, so event and row agree
	final.FinishedAt = &now
	final.Status, final.ErrorCode, final.ErrorMessage = store.JobSucceeded, "", ""
	var superseded *supersededError
	op := prog.operation()
	switch {
	case op != nil && op.state() == outcome.Failed && err != nil && errorCode(err) == CodeObjectFailed:
		final.Status, final.ErrorCode = store.JobFailed, string(CodeOperationFailed)
		final.ErrorMessage = fmt.Sprintf("operation %s/%s failed: %s", job.Engine, job.Type, op.message())
	case errors.As(err, &superseded):
		final.Status, final.ErrorCode, final.ErrorMessage = store.JobCancelled, string(CancelSuperseded), err.Error()
	case err != nil:
		final.Status = store.JobFailed
		final.ErrorCode, final.ErrorMessage = string(errorCode(err)), err.Error()
		if errors.Is(context.Cause(runCtx), errCancelled) || r.cancelRequested(ctx, job) {
			final.Status, final.ErrorCode, final.ErrorMessage = store.JobCancelled, string(CancelRequested), "cancelled while running: pushd stopped waiting; what was applied stays"
		}
	}
	objects := []apply.ObjectResult{}
	if res != nil {
		objects = res.Objects
	} else if last := prog.last(); last != nil {
		objects = last
	}
	b, _ := json.Marshal(objects)
	final.Objects = string(b)
	final.Intent = job.Action != ActionOperate && isIntent(res, err)
	if len(prior) > 0 {
		final.Retries = job.Retries
	}
	if op != nil {
		final.Result = resultJSON(op.last())
	}
	final.CleanupAfter = cleanupAfter(ctx, r.clusters, job, now)
	err = r.store.FinishJob(context.WithoutCancel(ctx), claimOf(job), store.Outcome{Status: final.Status,
		ErrorCode: final.ErrorCode, ErrorMessage: final.ErrorMessage, Objects: final.Objects, At: now,
		Intent: final.Intent, Retries: final.Retries, Result: final.Result, CleanupAfter: final.CleanupAfter,
		RequestCompleted: requestCompleted}, statusEvent(&final))
	if err != nil {
		log.Warn("job result not recorded", "err", err)
		return
	}
	r.opts.Notify()
	r.opts.Metrics.observe(job.Cluster, job.Action, final.Status, final.ErrorCode, time.Since(claimed))
	if op != nil && final.StartedAt != nil {
		r.opts.Metrics.observeOperation(job.Engine, job.Type, final.Status, final.ErrorCode, now.Sub(*final.StartedAt))
	}
	log.Info("job finished", "status", final.Status, "error", final.ErrorCode)
}

// failPanicked ends a job whose run panicked (workers.Guard logged and
// counted it): failed with internal_error, announced once — the claim
// fences a second ending.
func (r *Runner) failPanicked(ctx context.Context, job *store.Job, p any) {
	final := *job
	now := r.opts.Now().UTC().Truncate(time.Microsecond)
	final.Status, final.FinishedAt = store.JobFailed, &now
	final.ErrorCode = string(CodeInternalError)
	final.ErrorMessage = "pushd hit an internal error running the job (a bug: its stack is in pushd's log); what was applied before it stays"
	final.Objects = "[]"
	if cur, err := r.store.GetJob(context.WithoutCancel(ctx), job.Organization, job.ID); err == nil && cur.Objects != "" {
		final.Objects = cur.Objects // what its progress recorded
	}
	final.CleanupAfter = cleanupAfter(ctx, r.clusters, job, now)
	err := r.store.FinishJob(context.WithoutCancel(ctx), claimOf(job), store.Outcome{Status: final.Status,
		ErrorCode: final.ErrorCode, ErrorMessage: final.ErrorMessage, Objects: final.Objects, At: now, Retries: job.Retries,
		CleanupAfter: final.CleanupAfter, RequestCompleted: requestCompleted}, statusEvent(&final))
	if err != nil {
		r.opts.Logger.Warn("result of a job that panicked not recorded", "cluster", job.Cluster, "job", job.ID, "err", err)
		return
	}
	r.opts.Notify()
	r.opts.Metrics.observe(job.Cluster, job.Action, final.Status, final.ErrorCode, 0)
}

var errCancelled = errors.New("cancel requested")

// cancelRequested reads whether the job was cancelled while it ran: a run
// can fail for another reason (its cluster was forgotten) before the
// heartbeat saw the request, and the cancel is what the sender asked for.
func (r *Runner) cancelRequested(ctx context.Context, job *store.Job) bool {
	cur, err := r.store.GetJob(ctx, job.Organization, job.ID)
	return err == nil && cur.CancelRequested
}

// heartbeat renews the job's lease and watches for a cancel request; it
// cancels the run when the claim was lost or the job was cancelled.
func (r *Runner) heartbeat(ctx context.Context, job *store.Job, cancel context.CancelCauseFunc) {
	every := min(r.opts.Lease/3, time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := r.store.RenewLease(ctx, claimOf(job), r.opts.Now().Add(r.opts.Lease))
		if errors.Is(err, store.ErrFenced) {
			cancel(store.ErrFenced)
			return
		}
		if cur, err := r.store.GetJob(ctx, job.Organization, job.ID); err == nil && cur.CancelRequested {
			cancel(errCancelled)
			return
		}
	}
}

// claimOf is the runner's claim on a job it claimed.
func claimOf(job *store.Job) store.Claim { return store.Claim{Seq: job.Seq, Attempt: job.Attempt} }

// run does the job's work on its cluster, once, reporting its progress;
// rec is the record the claim checked it against.
func (r *Runner) run(ctx context.Context, job *store.Job, rec *clusters.Record, prog *progress) (*apply.Result, error) {
	if !r.monitor.Allow(job.Cluster) {
		return nil, fmt.Errorf("cluster %q: %w: its circuit breaker is open after failed probes", job.Cluster, apply.ErrUnreachable)
	}
	engine, err := r.engines.Applier(job.Cluster)
	if err != nil {
		return nil, err
	}
	req := apply.Request{Namespace: job.Namespace, Application: job.Application, Timeout: time.Duration(job.TimeoutSeconds) * time.Second,
		Progress: prog.update}
	if job.Action == ActionDelete {
		return engine.Destroy(ctx, req)
	}
	if req.Objects, err = inventory.DecodeManifests(job.Manifests); err != nil {
		return nil, fmt.Errorf("job %q: %w", job.ID, err)
	}
	req.Judge = healthJudge(rec)
	if job.Action == ActionOperate {
		if err := r.operate(rec, job, prog, &req); err != nil {
			return nil, err
		}
	}
	return engine.Apply(ctx, req)
}

// operate makes req the run of an operate job: in the operation's own
// inventory, its object judged by its type's result contract (prog
// follows the verdicts) and the others by the record's health rules,
// resuming what an earlier attempt wrote, waiting until the job's deadline
// (an attempt after a restart waits only what is left).
func (r *Runner) operate(rec *clusters.Record, job *store.Job, prog *progress, req *apply.Request) error {
	entry, ok := rec.AllowedOperation(job.Engine, job.Type)
	if !ok { // the claim checked the job against rec: not reached
		return refuse(RuleOperationNotAllowed, "operation", "operation %s/%s is not allowed on cluster %q", job.Engine, job.Type, rec.ID)
	}
	op, err := newOperation(entry, req.Objects, r.opts.Now)
	if err != nil {
		return fmt.Errorf("job %q: %w", job.ID, err)
	}
	prog.follow(op)
	req.Operation, req.Judge, req.Resume = job.ID, judges(op.judge, req.Judge), true
	req.Timeout = max(deadline(job).Sub(r.opts.Now()), time.Second)
	return nil
}
