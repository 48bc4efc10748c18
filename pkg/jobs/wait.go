package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/vworkspace/pushd/pkg/apply"
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/store"
)

// Jobs wait out blips. A job's deadline is timeout_seconds after it was
// queued: until then a queued job of a cluster that cannot be reached stays
// queued (marked waiting, with the reason, and announced once), and a run
// that fails on something transient — the cluster unreachable, a 429, a
// 5xx, a server timeout — is tried again with backoff. Server-side apply
// is idempotent, so a retried run converges on the same objects. Past the
// deadline a waiting job fails with cluster_unreachable. A run started
// before its deadline still waits its full timeout for the objects'
// status.

// WaitUnreachable is the wait reason of a job whose cluster's circuit
// breaker is open: the code it fails with if it waits past its deadline.
const WaitUnreachable = string(CodeClusterUnreachable)

// Retry is one transient failure a run retried (Job.Retries).
type Retry struct {
	At    time.Time `json:"at"`
	Error string    `json:"error"`
}

// deadline is when a job stops waiting for its cluster.
func deadline(job *store.Job) time.Time {
	return job.CreatedAt.Add(time.Duration(job.TimeoutSeconds) * time.Second)
}

// hold marks the queued jobs of an unreachable cluster waiting, and fails
// those past their deadline; each change comes with its event. The cluster
// is remembered as held until release.
func (r *Runner) hold(ctx context.Context, cluster string) {
	r.held[cluster] = true
	queued, err := r.store.QueuedJobs(ctx, cluster)
	if err != nil {
		if ctx.Err() == nil {
			r.opts.Logger.Warn("list waiting jobs", "cluster", cluster, "err", err)
		}
		return
	}
	now := r.opts.Now().UTC().Truncate(time.Microsecond)
	changed := false
	for i := range queued {
		job := queued[i]
		var ok bool
		if now.After(deadline(&job)) {
			job.Status, job.FinishedAt = store.JobFailed, &now
			job.ErrorCode = string(CodeClusterUnreachable)
			job.ErrorMessage = fmt.Sprintf("cluster %q could not be reached before the job's deadline (%s after it was queued); nothing was written", cluster, time.Duration(job.TimeoutSeconds)*time.Second)
			job.WaitReason, job.WaitingSince = "", nil
			job.CleanupAfter = cleanupAfter(ctx, r.clusters, &job, now)
			ok, err = r.store.FailQueued(ctx, job.Seq, store.Outcome{ErrorCode: job.ErrorCode, ErrorMessage: job.ErrorMessage, At: now,
				CleanupAfter: job.CleanupAfter, RequestCompleted: requestCompleted}, statusEvent(&job))
		} else if job.WaitReason == "" {
			job.WaitReason, job.WaitingSince = WaitUnreachable, &now
			ok, err = r.store.MarkWaiting(ctx, job.Seq, job.WaitReason, now, statusEvent(&job))
		}
		if err != nil && ctx.Err() == nil {
			r.opts.Logger.Warn("hold job", "cluster", cluster, "job", job.ID, "err", err)
		}
		changed = changed || ok
	}
	if changed {
		r.opts.Notify()
	}
}

// release unmarks the waiting jobs of a cluster that was held: it can be
// reached again. A job still marked (by another replica) loses its mark
// when it is claimed.
func (r *Runner) release(ctx context.Context, cluster string) {
	if !r.held[cluster] {
		return
	}
	if err := r.store.ClearWaiting(ctx, cluster); err != nil {
		if ctx.Err() == nil {
			r.opts.Logger.Warn("clear waiting jobs", "cluster", cluster, "err", err)
		}
		return
	}
	delete(r.held, cluster)
}

// attempt checks the job against its record as it is now — a drift
// correction also against its application's latest intent — then runs it
// once. A transient failure with time left before the deadline comes back
// as a *retryLater: the job goes back in the queue, waiting, and is claimed
// again after a backoff that doubles with each retry (tried is how many
// came before).
func (r *Runner) attempt(ctx context.Context, job *store.Job, prog *progress, tried int) (*apply.Result, error) {
	var rec *clusters.Record
	if err := r.whileUnread(ctx, job, "job not checked against its record", func() (err error) { rec, err = r.recheck(ctx, job); return err }); err != nil {
		return nil, err
	}
	if job.Trigger == TriggerDrift {
		if err := r.whileUnread(ctx, job, "correction not checked against the latest intent", func() error { return r.stillLatest(ctx, job) }); err != nil {
			return nil, err
		}
	}
	res, err := r.run(ctx, job, rec, prog)
	if err == nil || !transient(err) || ctx.Err() != nil {
		return res, err
	}
	wait := r.opts.RetryBackoff << min(tried, 4) // at most 16×
	if r.opts.Now().Add(wait).After(deadline(job)) {
		return res, err
	}
	return res, &retryLater{err: err, wait: wait}
}

// retryLater: the run failed on something transient and is tried again
// after wait.
type retryLater struct {
	err  error
	wait time.Duration
}

func (e *retryLater) Error() string { return e.err.Error() }
func (e *retryLater) Unwrap() error { return e.err }

// WaitClusterError is the wait reason of a job whose run the cluster's API
// server answered with a transient failure (429, 5xx, a server timeout).
const WaitClusterError = "cluster_error"

// WaitReasons lists the reasons a queued job can wait with (Job.Waiting).
func WaitReasons() []string { return []string{WaitUnreachable, WaitClusterError} }

// requeue puts the job back in the queue after a transient failure: queued,
// waiting with the reason since its first retry, its next attempt due after
// the backoff, every failure so far in its retries. The first retry is
// announced (status queued, waiting set); later ones are only recorded.
func (r *Runner) requeue(ctx context.Context, job *store.Job, res *apply.Result, prior []Retry, again *retryLater) {
	now := r.opts.Now().UTC().Truncate(time.Microsecond)
	retries := append(prior, Retry{At: now, Error: again.err.Error()})
	b, _ := json.Marshal(retries)
	reason := WaitClusterError
	if errors.Is(again.err, apply.ErrUnreachable) {
		reason = WaitUnreachable
	}
	objects := "[]"
	if res != nil {
		ob, _ := json.Marshal(res.Objects)
		objects = string(ob)
	}
	row := *job
	next := now.Add(again.wait)
	row.Status = store.JobQueued
	row.WaitReason, row.WaitingSince, row.NextAttemptAt = reason, &retries[0].At, &next
	row.Retries, row.Objects = string(b), objects
	var events []*store.Event
	if len(prior) == 0 {
		events = append(events, statusEvent(&row))
	}
	err := r.store.RequeueJob(context.WithoutCancel(ctx), claimOf(job), store.Retry{Reason: reason, At: next, Since: retries[0].At,
		Objects: objects, Retries: row.Retries, Now: now}, events...)
	if err != nil {
		r.opts.Logger.Warn("job not put back after a transient failure; it is taken up again when its lease expires", "cluster", job.Cluster, "job", job.ID, "err", err)
		return
	}
	r.opts.Notify()
	r.opts.Logger.Info("transient failure; the job waits and is tried again", "cluster", job.Cluster, "job", job.ID,
		"retry", len(retries), "at", next, "err", again.err)
}

// priorRetries are the transient failures earlier attempts of the job
// retried.
func priorRetries(job *store.Job) []Retry {
	var out []Retry
	if job.Retries != "" {
		json.Unmarshal([]byte(job.Retries), &out)
	}
	return out
}

// whileUnread runs check until it no longer fails because the store
// could not be read (*unreadError), waiting a doubling backoff in between:
// such a failure says nothing of the job, so the job waits for the store
// (its lease expires if this process cannot renew it) rather than fail
// for good.
func (r *Runner) whileUnread(ctx context.Context, job *store.Job, what string, check func() error) error {
	for wait := r.opts.RetryBackoff; ; wait = min(2*wait, 16*r.opts.RetryBackoff) {
		err := check()
		var unread *unreadError
		if !errors.As(err, &unread) {
			return err
		}
		r.opts.Logger.Warn(what+": the store could not be read; trying again", "cluster", job.Cluster, "job", job.ID, "in", wait, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// supersededError: a correction's intent was replaced while it was queued.
type supersededError struct{ newer string }

func (e *supersededError) Error() string {
	if e.newer == "" {
		return "superseded: the application has no apply intent any more; the correction wrote nothing"
	}
	return fmt.Sprintf("superseded: job %q is the application's latest intent now; the correction wrote nothing", e.newer)
}

// stillLatest tells whether a drift correction's manifests are still its
// application's latest intent; a *supersededError when a newer job (Odoo's
// apply or delete) replaced it while the correction waited.
func (r *Runner) stillLatest(ctx context.Context, job *store.Job) error {
	latest, err := r.store.LatestIntent(ctx, job.ClusterUID, job.Namespace, job.Application)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return &supersededError{}
	case err != nil:
		return &unreadError{err}
	case latest.Action != ActionApply || latest.Manifests != job.Manifests:
		return &supersededError{newer: latest.ID}
	}
	return nil
}

// transient tells whether a failure may pass by itself: the cluster could
// not be reached or answered that it is overloaded or failing.
func transient(err error) bool {
	return errors.Is(err, apply.ErrUnreachable) || apierrors.IsTooManyRequests(err) || apierrors.IsServerTimeout(err) ||
		apierrors.IsTimeout(err) || apierrors.IsInternalError(err) || apierrors.IsServiceUnavailable(err) ||
		apierrors.IsUnexpectedServerError(err)
}

// isIntent tells whether a run's outcome makes its job Odoo's latest intent
// for the application: it passed its preflight, so it may have written.
// Refusals before the first write (the record's rules, an unmanaged
// namespace, the preflight, a rejected credential) and a cluster that was
// never reached leave the previous intent standing.
func isIntent(res *apply.Result, err error) bool {
	if err == nil {
		return true
	}
	var (
		rule       *RuleError
		notManaged *apply.NamespaceNotManagedError
		refused    *apply.RefusedError
		preflight  *apply.PreflightError
		superseded *supersededError
		unread     *unreadError
	)
	if errors.As(err, &superseded) || errors.As(err, &unread) || errors.As(err, &rule) || errors.As(err, &notManaged) || errors.As(err, &refused) || errors.As(err, &preflight) ||
		errors.Is(err, clusters.ErrNoCredentials) || errors.Is(err, apply.ErrUnauthorized) {
		return false
	}
	if transient(err) || errors.Is(err, context.Canceled) {
		return wrote(res) // stopped early: an intent only if it got to write
	}
	return true
}

// wrote tells whether a run changed an object.
func wrote(res *apply.Result) bool {
	if res == nil {
		return false
	}
	for _, o := range res.Objects {
		switch o.Action {
		case apply.ActionCreated, apply.ActionConfigured, apply.ActionPruned, apply.ActionDeleted:
			return true
		}
	}
	return false
}
