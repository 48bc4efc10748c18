package observe

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/workers"
)

// scheduled is a cluster's cron entry and the schedule it was made from.
type scheduled struct {
	spec string
	id   cron.EntryID
}

// loop is how RequestDriftCheck reaches a running Run.
type loop struct {
	requests chan string   // clusters to check now
	stopped  chan struct{} // closed when Run returns
}

// Run polls every cluster's status on its own interval and runs each
// cluster's drift check on its record's cron schedule, on request and when a
// correction it queued ended (checked every second), until
// ctx ends; then it waits for the polls and checks in flight, which stop
// with ctx. Polls and checks run as workers of this loop (workers.Set): a
// cluster is never polled twice at once, and a slow one delays no other.
//
// The schedules are read again from the records every ScheduleSync, so a
// changed schedule needs no restart. A cluster's check is skipped while
// another of its checks is still running, and a panic in one poll or check
// is logged and costs no other.
func (w *Watcher) Run(ctx context.Context) {
	l := &loop{requests: make(chan string), stopped: make(chan struct{})}
	w.mu.Lock()
	w.loop = l
	w.mu.Unlock()
	log := cronLogger{w.opts.Logger}
	c := cron.New(cron.WithLogger(log), cron.WithChain(cron.Recover(log)), cron.WithParser(w.opts.Schedules), cron.WithLocation(time.UTC))
	c.Start()
	polls, checks := workers.New("poll", w.opts.Logger), workers.New("drift", w.opts.Logger)
	defer func() {
		w.mu.Lock()
		w.loop = nil
		w.mu.Unlock()
		close(l.stopped)
		<-c.Stop().Done()
		polls.Wait()
		checks.Wait()
	}()
	tick := time.NewTicker(min(time.Second, w.opts.PollInterval))
	defer tick.Stop()
	entries := map[string]scheduled{}
	corrections := map[string]bool{} // ended corrections already answered with a check
	var synced time.Time
	leaseRequests := w.opts.Assigner.Requests() // nil for leases.Solo: never ready
	for scan := true; ; {
		if scan {
			recs, err := w.clusters.List(ctx, "")
			if err != nil && ctx.Err() == nil {
				w.opts.Logger.Warn("list clusters", "err", err)
			}
			if err == nil && w.opts.Now().Sub(synced) >= w.opts.ScheduleSync {
				w.syncSchedules(ctx, c, entries, l.requests, recs)
				synced = w.opts.Now()
			}
			w.startPolls(ctx, polls, recs)
		}
		select {
		case <-ctx.Done():
			return
		case f := <-polls.Done(): // a poll returned; the cluster's interval starts now
			polls.Finished(f, w.opts.Now())
			scan = false
		case f := <-checks.Done():
			checks.Finished(f, w.opts.Now())
			scan = false
		case id := <-l.requests: // a check on request or on schedule
			w.startCheck(ctx, checks, id)
			scan = false
		case id := <-leaseRequests: // a check asked through another replica
			w.startCheck(ctx, checks, id)
			scan = false
		case <-tick.C: // intervals may have passed, corrections ended
			for _, id := range w.endedCorrections(ctx, corrections) {
				w.startCheck(ctx, checks, id)
			}
			scan = true
		}
	}
}

// startPolls starts a poll of every cluster of recs that is due.
func (w *Watcher) startPolls(ctx context.Context, polls *workers.Set, recs []*clusters.Record) {
	if recs != nil {
		polls.Keep(func(id string) bool {
			return slices.ContainsFunc(recs, func(r *clusters.Record) bool { return r.ID == id })
		})
	}
	for _, rec := range recs {
		if !polls.Due(rec.ID, w.opts.PollInterval, w.opts.Now()) {
			continue
		}
		pctx, mine := w.leased(ctx, rec.ID)
		if !mine {
			continue
		}
		polls.Go(rec.ID, func() {
			if err := w.Poll(pctx, rec.ID); err != nil && ctx.Err() == nil {
				w.logged(err, "status poll", rec.ID, w.opts.Logger.Debug)
			}
		}, nil)
	}
}

// startCheck starts the cluster's drift check as a worker of Run, if this
// replica observes the cluster (a scheduled check of another replica's
// cluster runs there).
func (w *Watcher) startCheck(ctx context.Context, checks *workers.Set, cluster string) {
	cctx, mine := w.leased(ctx, cluster)
	if !mine {
		return
	}
	checks.Go(cluster, func() { w.scheduledCheck(cctx, cluster) }, nil)
}

// syncSchedules makes the cron entries match the records: one per cluster
// with a drift schedule, replaced when the schedule changed, removed when
// the schedule or the cluster is gone. An entry asks Run for the check on
// requests, so scheduled checks run as Run's workers too.
func (w *Watcher) syncSchedules(ctx context.Context, c *cron.Cron, entries map[string]scheduled, requests chan<- string, recs []*clusters.Record) {
	want := make(map[string]string, len(recs))
	for _, rec := range recs {
		if rec.Drift.Schedule != "" {
			want[rec.ID] = rec.Drift.Schedule
		}
	}
	for id, e := range entries {
		if want[id] != e.spec {
			c.Remove(e.id)
			delete(entries, id)
		}
	}
	for id, spec := range want {
		if _, ok := entries[id]; ok {
			continue
		}
		entry, err := c.AddFunc(spec, func() {
			select {
			case requests <- id:
			case <-ctx.Done():
			}
		})
		if err != nil {
			w.opts.Logger.Warn("drift schedule not usable", "cluster", id, "schedule", spec, "err", err)
			continue
		}
		entries[id] = scheduled{spec: spec, id: entry}
	}
}

func (w *Watcher) scheduledCheck(ctx context.Context, cluster string) {
	ran, err := w.tryCheckDrift(ctx, cluster)
	switch {
	case !ran:
		w.opts.Logger.Info("drift check skipped: one is still running", "cluster", cluster)
	case err != nil && ctx.Err() == nil:
		w.logged(err, "drift check", cluster, w.opts.Logger.Warn)
	}
}

// RequestDriftCheck starts the cluster's drift check in the background and
// returns at once with the time of the request (POST
// /api/v1/clusters/{id}/drift-checks → 202). A check of the cluster already
// running absorbs the request. Errors: clusters.ErrNotFound,
// clusters.ErrNoCredentials (422 no_credentials), ErrNotRunning before Run.
func (w *Watcher) RequestDriftCheck(ctx context.Context, cluster string) (time.Time, error) {
	if _, err := w.clusters.Get(ctx, "", cluster); err != nil {
		return time.Time{}, err
	}
	if _, err := w.clusters.Clients(cluster); err != nil {
		return time.Time{}, err
	}
	w.mu.Lock()
	l := w.loop
	w.mu.Unlock()
	if l == nil {
		return time.Time{}, ErrNotRunning
	}
	if _, mine := w.leased(ctx, cluster); !mine {
		return w.forward(ctx, cluster)
	}
	now := w.opts.Now().UTC()
	// The check outlives the request: Run starts it under its own context
	// and waits for it before returning.
	select {
	case l.requests <- cluster:
		return now, nil
	case <-l.stopped:
		return time.Time{}, ErrNotRunning
	case <-ctx.Done():
		return time.Time{}, ctx.Err()
	}
}

// cronLogger routes cron's messages into slog.
type cronLogger struct{ log *slog.Logger }

func (l cronLogger) Info(msg string, kv ...any) { l.log.Debug("cron: "+msg, kv...) }
func (l cronLogger) Error(err error, msg string, kv ...any) {
	l.log.Error("cron: "+msg, append(kv, "err", err)...)
}
