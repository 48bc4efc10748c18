package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vworkspace/pushd/pkg/store"
)

// sweeper enforces --job-retention: finished jobs that nothing needs any
// more (store.PruneJobs says which) and delivered events older than the
// retention are deleted. The janitor runs it at start and hourly. The
// outbox prunes delivered events itself after a week; this covers a
// retention shorter than that.
type sweeper struct {
	st        *store.Store
	retention time.Duration
	now       func() time.Time
	log       *slog.Logger
	pruned    *prometheus.CounterVec
}

func newSweeper(st *store.Store, retention time.Duration, reg prometheus.Registerer, log *slog.Logger) *sweeper {
	pruned := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pushd_retention_pruned_total",
		Help: "Rows the retention sweep deleted, by what they were.",
	}, []string{"what"})
	reg.MustRegister(pruned)
	for _, what := range []string{"jobs", "events"} {
		pruned.WithLabelValues(what) // present at 0 before the first prune
	}
	return &sweeper{st: st, retention: retention, now: time.Now, log: log, pruned: pruned}
}

// sweep prunes once, logging what it removed.
func (s *sweeper) sweep(ctx context.Context) {
	before := s.now().Add(-s.retention)
	jobs, err := s.st.PruneJobs(ctx, before)
	if err != nil && ctx.Err() == nil {
		s.log.WarnContext(ctx, "retention: prune jobs", "err", err)
	}
	events, err := s.st.PruneEvents(ctx, before)
	if err != nil && ctx.Err() == nil {
		s.log.WarnContext(ctx, "retention: prune delivered events", "err", err)
	}
	s.pruned.WithLabelValues("jobs").Add(float64(jobs))
	s.pruned.WithLabelValues("events").Add(float64(events))
	if jobs > 0 || events > 0 {
		s.log.InfoContext(ctx, "retention: pruned", "jobs", jobs, "events", events, "finished_before", before.UTC().Format(time.RFC3339))
	}
}
