package fleet

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// RetentionOptions are the Retention sweep's knobs.
type RetentionOptions struct {
	// Interval between sweeps; the first runs at once. Default 1h.
	Interval time.Duration
	// Registerer, when set, gets pushd_retention_pruned_total{what}.
	Registerer prometheus.Registerer
	// Logger; discarded when nil.
	Logger *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

func (o *RetentionOptions) defaults() {
	if o.Interval == 0 {
		o.Interval = time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Retention enforces --job-retention: finished jobs that nothing needs any
// more (store.PruneJobs says which) and delivered events older than the
// retention are deleted. The outbox prunes delivered events itself after a
// week; this covers a retention shorter than that.
type Retention struct {
	st        RetentionStore
	retention time.Duration
	opts      RetentionOptions
	pruned    *prometheus.CounterVec
}

// NewRetention returns the sweep of st for rows older than retention (the
// configuration's job retention; it has no default here, so it has one
// home).
func NewRetention(st RetentionStore, retention time.Duration, opts RetentionOptions) *Retention {
	opts.defaults()
	pruned := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pushd_retention_pruned_total",
		Help: "Rows the retention sweep deleted, by what they were.",
	}, []string{"what"})
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(pruned)
	}
	for _, what := range []string{"jobs", "events"} {
		pruned.WithLabelValues(what) // present at 0 before the first prune
	}
	return &Retention{st: st, retention: retention, opts: opts, pruned: pruned}
}

// Run sweeps at once and every Interval until ctx ends.
func (r *Retention) Run(ctx context.Context) {
	every(ctx, r.opts.Interval, r.Sweep)
}

// Sweep prunes once, logging what it removed.
func (r *Retention) Sweep(ctx context.Context) {
	log := r.opts.Logger
	before := r.opts.Now().Add(-r.retention)
	jobs, err := r.st.PruneJobs(ctx, before)
	if err != nil && ctx.Err() == nil {
		log.WarnContext(ctx, "retention: prune jobs", "err", err)
	}
	events, err := r.st.PruneEvents(ctx, before)
	if err != nil && ctx.Err() == nil {
		log.WarnContext(ctx, "retention: prune delivered events", "err", err)
	}
	r.pruned.WithLabelValues("jobs").Add(float64(jobs))
	r.pruned.WithLabelValues("events").Add(float64(events))
	if jobs > 0 || events > 0 {
		log.InfoContext(ctx, "retention: pruned", "jobs", jobs, "events", events, "finished_before", before.UTC().Format(time.RFC3339))
	}
}
