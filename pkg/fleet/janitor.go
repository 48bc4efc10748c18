package fleet

import (
	"context"
	"log/slog"
	"time"

	"github.com/vworkspace/pushd/pkg/store"
)

// JanitorOptions are the Janitor's knobs.
type JanitorOptions struct {
	// Interval between passes; the first runs at once. Default 1h.
	Interval time.Duration
	// MessageRetention is how long a webhook-id and its outcome are
	// remembered (the contract asks for at least 24 hours). Default 48h.
	MessageRetention time.Duration
	// CallbacksOff prunes events older than UnsentEventRetention, sent or
	// not: with no callback URL nothing will deliver them (the outbox
	// prunes delivered events itself). Default 7 days.
	CallbacksOff         bool
	UnsentEventRetention time.Duration
	// Logger; discarded when nil.
	Logger *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

func (o *JanitorOptions) defaults() {
	if o.Interval == 0 {
		o.Interval = time.Hour
	}
	if o.MessageRetention == 0 {
		o.MessageRetention = 48 * time.Hour
	}
	if o.UnsentEventRetention == 0 {
		o.UnsentEventRetention = 7 * 24 * time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Janitor prunes what pushd remembers for a while only: webhook-ids past
// MessageRetention, the manifests of deleted records' jobs after
// store.DeletedManifestRetention and, with callbacks off, old events.
type Janitor struct {
	st   JanitorStore
	opts JanitorOptions
}

// NewJanitor returns a janitor of st.
func NewJanitor(st JanitorStore, opts JanitorOptions) *Janitor {
	opts.defaults()
	return &Janitor{st: st, opts: opts}
}

// Run cleans at once and every Interval until ctx ends.
func (j *Janitor) Run(ctx context.Context) {
	every(ctx, j.opts.Interval, j.Clean)
}

// Clean prunes once, logging what it removed and what failed.
func (j *Janitor) Clean(ctx context.Context) {
	log, now := j.opts.Logger, j.opts.Now()
	if n, err := j.st.PruneMessages(ctx, now.Add(-j.opts.MessageRetention)); err != nil && ctx.Err() == nil {
		log.Warn("prune webhook ids", "err", err)
	} else if n > 0 {
		log.Debug("pruned webhook ids", "count", n)
	}
	if n, err := j.st.ForgetManifests(ctx, now.Add(-store.DeletedManifestRetention)); err != nil && ctx.Err() == nil {
		log.Warn("forget deleted records' manifests", "err", err)
	} else if n > 0 {
		log.Debug("forgot deleted records' manifests", "jobs", n)
	}
	if j.opts.CallbacksOff {
		if n, err := j.st.PruneUnsentEvents(ctx, now.Add(-j.opts.UnsentEventRetention)); err != nil && ctx.Err() == nil {
			log.Warn("prune events", "err", err)
		} else if n > 0 {
			log.Debug("pruned events", "count", n)
		}
	}
}

// every runs fn at once and then every interval until ctx ends.
func every(ctx context.Context, interval time.Duration, fn func(context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		fn(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
