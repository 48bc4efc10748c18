package observe

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/vworkspace/pushd/pkg/clusters"
)

// scheduled is a cluster's cron entry and the schedule it was made from.
type scheduled struct {
	spec string
	id   cron.EntryID
}

// Run polls every cluster's status on its own interval and runs each
// cluster's drift check on its record's cron schedule, until ctx ends; then
// it waits for the polls and checks in flight, which stop with ctx.
//
// The schedules are read again from the records every ScheduleSync, so a
// changed schedule needs no restart. A cluster's scheduled check is skipped
// while one of its checks (scheduled or on demand) is still running, and a
// panic in one poll or check is logged and costs no other.
func (w *Watcher) Run(ctx context.Context) {
	log := cronLogger{w.opts.Logger}
	c := cron.New(cron.WithLogger(log), cron.WithChain(cron.Recover(log)))
	w.mu.Lock()
	w.runCtx, w.cron = ctx, c
	w.mu.Unlock()
	c.Start()
	var wg sync.WaitGroup
	defer func() {
		w.mu.Lock()
		w.runCtx = nil
		w.mu.Unlock()
		<-c.Stop().Done()
		wg.Wait()
		w.bg.Wait()
	}()
	tick := time.NewTicker(min(time.Second, w.opts.PollInterval))
	defer tick.Stop()
	var synced time.Time
	for {
		recs, err := w.clusters.List(ctx, "")
		if err != nil && ctx.Err() == nil {
			w.opts.Logger.Warn("list clusters", "err", err)
		}
		if err == nil && w.opts.Now().Sub(synced) >= w.opts.ScheduleSync {
			w.syncSchedules(ctx, recs)
			synced = w.opts.Now()
		}
		for _, rec := range recs {
			if !w.duePoll(rec.ID) {
				continue
			}
			wg.Go(func() {
				defer w.pollDone(rec.ID)
				defer w.recoverRun("poll", rec.ID)
				if err := w.Poll(ctx, rec.ID); err != nil && ctx.Err() == nil {
					w.opts.Logger.Debug("status poll", "cluster", rec.ID, "err", err)
				}
			})
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// duePoll claims the cluster's next poll when its interval has passed and
// none is running.
func (w *Watcher) duePoll(id string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.polling[id] || w.opts.Now().Sub(w.lastPoll[id]) < w.opts.PollInterval {
		return false
	}
	w.polling[id] = true
	return true
}

func (w *Watcher) pollDone(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.polling[id], w.lastPoll[id] = false, w.opts.Now()
}

func (w *Watcher) recoverRun(what, cluster string) {
	if r := recover(); r != nil {
		w.opts.Logger.Error("panic recovered", "run", what, "cluster", cluster, "panic", fmt.Sprint(r))
	}
}

// syncSchedules makes the cron entries match the records: one per cluster
// with a drift schedule, replaced when the schedule changed, removed when
// the schedule or the cluster is gone.
func (w *Watcher) syncSchedules(ctx context.Context, recs []*clusters.Record) {
	w.mu.Lock()
	defer w.mu.Unlock()
	want := make(map[string]string, len(recs))
	for _, rec := range recs {
		if rec.Drift.Schedule != "" {
			want[rec.ID] = rec.Drift.Schedule
		}
	}
	for id, e := range w.entries {
		if want[id] != e.spec {
			w.cron.Remove(e.id)
			delete(w.entries, id)
		}
	}
	for id, spec := range want {
		if _, ok := w.entries[id]; ok {
			continue
		}
		job := cron.NewChain(cron.SkipIfStillRunning(cronLogger{w.opts.Logger})).Then(cron.FuncJob(func() {
			w.scheduledCheck(ctx, id)
		}))
		entry, err := w.cron.AddJob(spec, job)
		if err != nil {
			w.opts.Logger.Warn("drift schedule not usable", "cluster", id, "schedule", spec, "err", err)
			continue
		}
		w.entries[id] = scheduled{spec: spec, id: entry}
	}
}

func (w *Watcher) scheduledCheck(ctx context.Context, cluster string) {
	ran, err := w.tryCheckDrift(ctx, cluster)
	switch {
	case !ran:
		w.opts.Logger.Info("drift check skipped: one is still running", "cluster", cluster)
	case err != nil && ctx.Err() == nil:
		w.opts.Logger.Warn("drift check", "cluster", cluster, "err", err)
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
	defer w.mu.Unlock()
	runCtx := w.runCtx
	if runCtx == nil {
		return time.Time{}, ErrNotRunning
	}
	now := w.opts.Now().UTC()
	// The check outlives the request: it runs under Run's context, and Run
	// waits for it before returning.
	w.bg.Go(func() {
		defer w.recoverRun("drift check", cluster)
		w.scheduledCheck(runCtx, cluster)
	})
	return now, nil
}

// cronLogger routes cron's messages into slog.
type cronLogger struct{ log *slog.Logger }

func (l cronLogger) Info(msg string, kv ...any) { l.log.Debug("cron: "+msg, kv...) }
func (l cronLogger) Error(err error, msg string, kv ...any) {
	l.log.Error("cron: "+msg, append(kv, "err", err)...)
}
