package leases

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/store"
)

// How replicas share the clusters.
//
// Each cluster's probes (health.Monitor), status polls and drift checks
// (observe.Watcher) run on the replica holding its lease (store.AcquireLease):
// one observer per cluster, so Odoo hears each change once. Jobs are not
// leased by cluster: any replica claims any job (store.ClaimJob).
//
// Every Renew, a replica records its heartbeat, renews the leases it holds
// and counts the live replicas (heartbeat within Duration). Its fair share
// is ceil(clusters / live replicas): below it, it takes free or expired
// leases (in an order of its own, so replicas starting together go for
// different clusters); above it — a replica joined — it releases the
// surplus for the newcomer to take. A replica that dies stops renewing: its
// leases expire at most Duration after its last renewal, its heartbeat ages
// out at the same time (so the others' share grows), and the next round of
// another replica takes them: a takeover within Duration + Renew (20 s with
// the defaults). On shutdown a replica releases its leases at once.
//
// On SQLite the same code runs with one replica, which holds every lease:
// one code path, one cheap UPDATE per round.

// DefaultDuration is Options.Duration's default (--cluster-lease).
const DefaultDuration = 15 * time.Second

// Options tune the cluster leases.
type Options struct {
	// Duration is how long a lease holds without renewal, and how long a
	// replica counts as live after its heartbeat. Default 15s.
	Duration time.Duration
	// Renew is how often leases are renewed and free ones taken.
	// Default Duration/3.
	Renew time.Duration
	// Replica names this process; a random id when empty.
	Replica string
	Logger  *slog.Logger
	// Now is the clock; time.Now when nil. Replicas compare expiries taken
	// from each other's clocks: keep them synchronised (NTP) to well
	// under Duration.
	Now func() time.Time
}

func (o *Options) defaults() {
	if o.Duration <= 0 {
		o.Duration = DefaultDuration
	}
	if o.Renew <= 0 {
		o.Renew = o.Duration / 3
	}
	if o.Replica == "" {
		o.Replica = "replica-" + uuid.NewString()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Keeper keeps this replica's share of the cluster leases. Run does the
// work; Assign (it is an Assigner) answers, for the Monitor and the
// Watcher, whether a cluster is this replica's to observe.
type Keeper struct {
	store *store.Store
	reg   *clusters.Registry
	opts  Options
	self  store.Replica

	mu   sync.Mutex
	held map[string]heldLease
	live int
	// requests are drift checks asked through other replicas of clusters
	// held here (store.TakeCheckRequests).
	requests chan string
	dropped  map[string]int64 // fenced writes dropped, by what wrote
}

type heldLease struct {
	lease store.Lease
	until time.Time // by this replica's clock: past it, the lease is not used
}

// NewKeeper builds the lease keeper of this replica; Run starts it.
func NewKeeper(st *store.Store, reg *clusters.Registry, opts Options) *Keeper {
	opts.defaults()
	host, _ := os.Hostname()
	return &Keeper{store: st, reg: reg, opts: opts, held: map[string]heldLease{}, requests: make(chan string, 64), dropped: map[string]int64{},
		self: store.Replica{ID: opts.Replica, Host: host, PID: os.Getpid(), StartedAt: opts.Now().UTC()}}
}

// Replica is this replica's id.
func (l *Keeper) Replica() string { return l.opts.Replica }

// Lease returns the cluster's lease if this replica holds it and it has
// not run out by this replica's clock. Work started under it writes with
// store.WithFence(ctx, lease).
func (l *Keeper) Lease(cluster string) (store.Lease, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h, ok := l.held[cluster]
	if !ok || !l.opts.Now().Before(h.until) {
		return store.Lease{}, false
	}
	return h.lease, true
}

// Held lists the clusters whose leases this replica holds, sorted.
func (l *Keeper) Held() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Sorted(maps.Keys(l.held))
}

// Requests receives the clusters held here whose drift check was asked
// through another replica.
func (l *Keeper) Requests() <-chan string { return l.requests }

// Dropped tells whether err is a write dropped because the lease it was
// made under was lost (store.ErrLeaseLost); it logs it at debug level and
// counts it (pushd_cluster_lease_dropped_writes_total) by what wrote.
func (l *Keeper) Dropped(err error, what, cluster string) bool {
	if !errors.Is(err, store.ErrLeaseLost) {
		return false
	}
	l.opts.Logger.Debug("write dropped: the cluster's lease was lost", "cluster", cluster, "what", what, "err", err)
	l.mu.Lock()
	l.dropped[what]++
	l.mu.Unlock()
	return true
}

// Run keeps the leases until ctx ends, then releases them.
func (l *Keeper) Run(ctx context.Context) {
	t := time.NewTicker(l.opts.Renew)
	defer t.Stop()
	for {
		l.round(ctx)
		select {
		case <-ctx.Done():
			l.releaseAll(context.WithoutCancel(ctx))
			return
		case <-t.C:
		}
	}
}

// round is one heartbeat: renew, count, shed the surplus or take free
// leases up to the fair share, and pass on requested drift checks.
func (l *Keeper) round(ctx context.Context) {
	now := l.opts.Now()
	if err := l.step(ctx, now); err != nil && ctx.Err() == nil {
		// The database is out of reach: the leases run out by the
		// replica's own clock (Lease), as they do in the database.
		l.opts.Logger.Warn("cluster leases", "replica", l.opts.Replica, "err", err)
	}
}

func (l *Keeper) step(ctx context.Context, now time.Time) error {
	if err := l.store.Heartbeat(ctx, l.self, now); err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	until := now.Add(l.opts.Duration)
	renewed, err := l.store.RenewLeases(ctx, l.opts.Replica, until)
	if err != nil {
		return err
	}
	live, err := l.store.LiveReplicas(ctx, now.Add(-l.opts.Duration))
	if err != nil {
		return fmt.Errorf("count replicas: %w", err)
	}
	recs, err := l.reg.List(ctx, "")
	if err != nil {
		return fmt.Errorf("list clusters: %w", err)
	}
	rows, err := l.store.ClusterLeases(ctx)
	if err != nil {
		return fmt.Errorf("read leases: %w", err)
	}
	l.mu.Lock()
	for id, h := range l.held {
		if r, ok := renewed[id]; !ok || r.Token != h.lease.Token {
			l.opts.Logger.Info("cluster lease lost", "cluster", id, "replica", l.opts.Replica)
			delete(l.held, id)
		}
	}
	for id, r := range renewed {
		if h, ok := l.held[id]; ok {
			h.until = until
			l.held[id] = h
		} else {
			// Held in the database but not here: left by an earlier process
			// under the same replica id. Give it up for a clean takeover.
			if err := l.store.ReleaseLease(ctx, r, now); err != nil {
				l.opts.Logger.Warn("release cluster lease", "cluster", id, "err", err)
			}
		}
	}
	l.live = max(live, 1)
	share := (len(recs) + l.live - 1) / l.live
	have := len(l.held)
	l.mu.Unlock()

	exists := make(map[string]bool, len(recs))
	for _, r := range recs {
		exists[r.ID] = true
	}
	for _, id := range l.Held() {
		if !exists[id] { // the record was deleted
			l.release(ctx, id, now)
			have--
		}
	}
	if have > share {
		l.shed(ctx, have-share, now)
	} else if have < share {
		l.take(ctx, share-have, recs, rows, now)
	}
	ids, err := l.store.TakeCheckRequests(ctx, l.opts.Replica)
	if err != nil {
		return err
	}
	for _, id := range ids {
		select {
		case l.requests <- id:
		default: // a burst of requests: the ones dropped are absorbed by those queued
		}
	}
	return nil
}

// take acquires up to n free leases, in this replica's order of the
// clusters.
func (l *Keeper) take(ctx context.Context, n int, recs []*clusters.Record, rows []store.ClusterLease, now time.Time) {
	busy := make(map[string]bool, len(rows))
	for _, r := range rows {
		busy[r.Cluster] = r.Holder != "" && r.ExpiresAt.After(now)
	}
	ids := make([]string, 0, len(recs))
	for _, r := range recs {
		if _, mine := l.Lease(r.ID); !mine && !busy[r.ID] {
			ids = append(ids, r.ID)
		}
	}
	slices.SortFunc(ids, func(a, b string) int { return cmpRank(l.rank(a), l.rank(b), a, b) })
	for _, id := range ids {
		if n == 0 {
			return
		}
		lease, ok, err := l.store.AcquireLease(ctx, id, l.opts.Replica, now, l.opts.Duration)
		if err != nil {
			l.opts.Logger.Warn("acquire cluster lease", "cluster", id, "err", err)
			continue
		}
		if !ok {
			continue // another replica was faster
		}
		l.mu.Lock()
		l.held[id] = heldLease{lease: lease, until: now.Add(l.opts.Duration)}
		l.mu.Unlock()
		l.opts.Logger.Info("cluster lease acquired", "cluster", id, "replica", l.opts.Replica, "token", lease.Token)
		n--
	}
}

// shed releases n leases, those last in this replica's order (the ones
// take would take last).
func (l *Keeper) shed(ctx context.Context, n int, now time.Time) {
	ids := l.Held()
	slices.SortFunc(ids, func(a, b string) int { return -cmpRank(l.rank(a), l.rank(b), a, b) })
	for _, id := range ids[:n] {
		l.release(ctx, id, now)
		l.opts.Logger.Info("cluster lease released to another replica", "cluster", id, "replica", l.opts.Replica)
	}
}

func (l *Keeper) release(ctx context.Context, id string, now time.Time) {
	l.mu.Lock()
	h, ok := l.held[id]
	delete(l.held, id) // first, so no new work starts under it
	l.mu.Unlock()
	if !ok {
		return
	}
	if err := l.store.ReleaseLease(ctx, h.lease, now); err != nil {
		l.opts.Logger.Warn("release cluster lease", "cluster", id, "err", err)
	}
}

// releaseAll gives every lease up at shutdown, so the other replicas take
// them at their next round instead of after the expiry.
func (l *Keeper) releaseAll(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for _, id := range l.Held() {
		l.release(ctx, id, l.opts.Now())
	}
}

// rank orders the clusters differently on each replica.
func (l *Keeper) rank(cluster string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(l.opts.Replica + "/" + cluster))
	return h.Sum64()
}

func cmpRank(ra, rb uint64, a, b string) int {
	switch {
	case ra < rb:
		return -1
	case ra > rb:
		return 1
	}
	return strings.Compare(a, b)
}
