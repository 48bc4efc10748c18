package observe

import (
	"context"
	"errors"
	"time"

	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/store"
)

// leased tells whether this replica observes the cluster, and returns the
// context its poll or check runs with: fenced by the cluster's lease, so
// what it writes is dropped once another replica took the lease over.
// When the lease is new to this replica (a takeover, or one given back and
// taken again), what the watcher remembered of the cluster is forgotten:
// the holder meanwhile told Odoo things this memory does not know, and
// they are read back from the application states.
func (w *Watcher) leased(ctx context.Context, cluster string) (context.Context, bool) {
	fenced, ok := w.opts.Assigner.Assign(ctx, cluster)
	if !ok {
		return ctx, false
	}
	l, _ := store.FenceOf(fenced) // none (token 0) for leases.Solo
	w.mu.Lock()
	if w.tokens[cluster] != l.Token {
		delete(w.states, cluster)
		w.tokens[cluster] = l.Token
	}
	w.mu.Unlock()
	return fenced, true
}

// forward passes a drift check of a cluster this replica does not observe
// to the replica that does, through the database; it runs there within a
// lease renewal period.
func (w *Watcher) forward(ctx context.Context, cluster string) (time.Time, error) {
	now := w.opts.Now().UTC()
	return now, w.store.RequestCheck(ctx, cluster, now)
}

// logged reports a poll's or check's failure: a write dropped by its fence
// at debug level (the Assigner counts it), anything else as given.
func (w *Watcher) logged(err error, what, cluster string, log func(msg string, args ...any)) {
	if w.opts.Assigner.Dropped(err, what, cluster) {
		return
	}
	log(what, "cluster", cluster, "err", err)
}

// viewState is the state a view of the cluster is built from. This
// replica's own when it observes the cluster; otherwise a snapshot read
// now — what the holder last reported (health baselines, drift verdicts)
// from the store, the objects' status from the cluster — that records
// nothing, so every replica answers the same view.
func (w *Watcher) viewState(ctx context.Context, rec *clusters.Record) *clusterState {
	if _, mine := w.leased(ctx, rec.ID); mine {
		return w.state(ctx, rec.ID)
	}
	st := newClusterState()
	st.snapshot, st.loaded = true, true
	if err := w.load(ctx, rec.ID, st); err != nil {
		w.opts.Logger.Warn("read application states", "cluster", rec.ID, "err", err)
	}
	if err := w.read(ctx, rec, st, w.opts.ViewTimeout); err != nil && !errors.Is(err, ErrUnreachable) {
		w.opts.Logger.Debug("view of another replica's cluster", "cluster", rec.ID, "err", err)
	}
	return st
}
