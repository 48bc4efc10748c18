package leases

import (
	"context"

	"github.com/vworkspace/pushd/pkg/store"
)

// An Assigner tells which clusters this replica observes: their probes,
// status polls and drift checks run here, each under the context Assign
// returns. A Keeper assigns by lease — `pushd serve` always runs one, on
// SQLite too, where its one replica holds every lease; Solo assigns every
// cluster, unfenced, to a process that runs no Keeper (the CLI, tests).
type Assigner interface {
	// Assign tells whether this replica observes the cluster now and
	// returns the context its work runs under: fenced by the cluster's
	// lease (store.WithFence), so what it writes is dropped once another
	// replica took the cluster over. store.FenceOf tells the lease, whose
	// token changes whenever the cluster comes (back) to this replica.
	Assign(ctx context.Context, cluster string) (context.Context, bool)
	// Requests receives the clusters observed here whose drift check was
	// asked through another replica.
	Requests() <-chan string
	// Dropped tells (and counts) whether err is a write dropped because
	// the lease it was made under was lost.
	Dropped(err error, what, cluster string) bool
}

var (
	_ Assigner = (*Keeper)(nil)
	_ Assigner = Solo{}
)

// Assign is Lease, as an Assigner: the context is fenced by the lease.
func (l *Keeper) Assign(ctx context.Context, cluster string) (context.Context, bool) {
	lease, ok := l.Lease(cluster)
	if !ok {
		return ctx, false
	}
	return store.WithFence(ctx, lease), true
}

// Solo is the Assigner of a process that is alone on its database: every
// cluster is its own, its writes need no fence, no other replica asks it
// for a drift check and no write of it is dropped.
type Solo struct{}

// Assign assigns every cluster, with ctx as it is.
func (Solo) Assign(ctx context.Context, _ string) (context.Context, bool) { return ctx, true }

// Requests never receives: there is no other replica to ask through.
func (Solo) Requests() <-chan string { return nil }

// Dropped is false: without a fence no write is dropped.
func (Solo) Dropped(error, string, string) bool { return false }
