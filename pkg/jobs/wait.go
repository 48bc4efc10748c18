package jobs

import (
	"context"
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
// breaker is open.
const WaitUnreachable = "cluster_unreachable"

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
			job.ErrorCode = "cluster_unreachable"
			job.ErrorMessage = fmt.Sprintf("cluster %q could not be reached before the job's deadline (%s after it was queued); nothing was written", cluster, time.Duration(job.TimeoutSeconds)*time.Second)
			job.WaitReason, job.WaitingSince = "", nil
			ok, err = r.store.FailQueued(ctx, job.Seq, store.Outcome{ErrorCode: job.ErrorCode, ErrorMessage: job.ErrorMessage, At: now}, statusEvent(&job))
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

// runRetrying checks the job against its record as it is now, then runs
// it, again after each transient failure while its deadline allows.
func (r *Runner) runRetrying(ctx context.Context, job *store.Job) (*apply.Result, []Retry, error) {
	if err := r.recheck(ctx, job); err != nil {
		return nil, nil, err
	}
	var retries []Retry
	wait := r.opts.RetryBackoff
	for {
		res, err := r.run(ctx, job)
		if err == nil || !transient(err) || ctx.Err() != nil {
			return res, retries, err
		}
		now := r.opts.Now()
		if now.Add(wait).After(deadline(job)) {
			return res, retries, err
		}
		retries = append(retries, Retry{At: now.UTC().Truncate(time.Microsecond), Error: err.Error()})
		r.opts.Logger.Info("transient failure; retrying", "cluster", job.Cluster, "job", job.ID, "in", wait, "err", err)
		select {
		case <-ctx.Done():
			return res, retries, err
		case <-time.After(wait):
		}
		wait = min(2*wait, 16*r.opts.RetryBackoff)
	}
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
	)
	if errors.As(err, &rule) || errors.As(err, &notManaged) || errors.As(err, &refused) || errors.As(err, &preflight) ||
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
