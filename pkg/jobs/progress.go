package jobs

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/vworkspace/pushd/pkg/apply"
	"github.com/vworkspace/pushd/pkg/store"
	"github.com/vworkspace/pushd/pkg/workers"
)

// A running job shows its progress: the engine reports each object as it
// is written and each kstatus change (apply.Request.Progress), and the
// latest snapshot is written to the job's row at most once per
// RunnerOptions.ProgressInterval, so GET /jobs/{id} and the UI list the
// objects while the job runs. The first report also records the job as its
// application's latest intent: the engine reports nothing before its
// preflight passed, and from then on the job may have written.

// progress is one run's reporter. update is called from the engine and
// never blocks; a goroutine of the run writes what it holds.
type progress struct {
	r   *Runner
	job *store.Job

	mu      sync.Mutex
	latest  []apply.ObjectResult
	dirty   bool
	op      *operation // an operate run's follower (follow); nil otherwise
	wake    chan struct{}
	stopped chan struct{}
	once    sync.Once
	cancel  context.CancelFunc
}

// startProgress starts the reporter of a run; stop ends it.
func (r *Runner) startProgress(ctx context.Context, job *store.Job) *progress {
	ctx, cancel := context.WithCancel(ctx)
	p := &progress{r: r, job: job, wake: make(chan struct{}, 1), stopped: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(p.stopped)
		workers.Guard(r.opts.Logger, "job", job.Cluster, func() { p.loop(ctx) }, nil)
	}()
	return p
}

// update takes the engine's latest snapshot.
func (p *progress) update(objects []apply.ObjectResult) {
	p.mu.Lock()
	p.latest, p.dirty = objects, true
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// follow makes the reporter record op's result with the objects, each
// time a verdict comes. Called before the run starts.
func (p *progress) follow(op *operation) {
	p.mu.Lock()
	p.op = op
	p.mu.Unlock()
	op.wake = func() {
		p.mu.Lock()
		p.dirty = true
		p.mu.Unlock()
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

// operation is the run's follower, nil unless it is an operate run's.
func (p *progress) operation() *operation {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.op
}

// last is the latest snapshot, nil when none came.
func (p *progress) last() []apply.ObjectResult {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.latest
}

// stop ends the reporter and waits for it; what it has not written yet is
// the final result's to write.
func (p *progress) stop() {
	p.once.Do(func() {
		p.cancel()
		<-p.stopped
	})
}

func (p *progress) loop(ctx context.Context) {
	intent := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		}
		p.mu.Lock()
		objects, dirty, op := p.latest, p.dirty, p.op
		p.dirty = false
		p.mu.Unlock()
		if !dirty {
			continue
		}
		c := claimOf(p.job)
		if op != nil { // an operation is never its application's intent
			var b []byte
			if objects != nil {
				b, _ = json.Marshal(objects)
			}
			if err := p.r.store.ReportResult(ctx, c, string(b), resultJSON(op.last())); err != nil && ctx.Err() == nil {
				p.r.opts.Logger.Debug("job progress not recorded", "job", p.job.ID, "err", err)
			}
		} else {
			b, _ := json.Marshal(objects)
			p.report(ctx, c, &intent, string(b))
		}
		select { // bounded rate: at most one write per interval
		case <-ctx.Done():
			return
		case <-time.After(p.r.opts.ProgressInterval):
		}
	}
}

// report records an apply's or delete's progress; its first report also
// records the job as its application's latest intent.
func (p *progress) report(ctx context.Context, c store.Claim, intent *bool, objects string) {
	if !*intent {
		if err := p.r.store.MarkIntent(ctx, c); err != nil {
			p.r.opts.Logger.Debug("job intent not recorded yet", "job", p.job.ID, "err", err)
		} else {
			*intent = true
		}
	}
	if err := p.r.store.ReportProgress(ctx, c, objects); err != nil && ctx.Err() == nil {
		p.r.opts.Logger.Debug("job progress not recorded", "job", p.job.ID, "err", err)
	}
}
