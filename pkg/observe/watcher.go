package observe

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
	"sigs.k8s.io/cli-utils/pkg/object"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/cronspec"
	"github.com/vworkspace/pushd/pkg/health"
	"github.com/vworkspace/pushd/pkg/inventory"
	"github.com/vworkspace/pushd/pkg/leases"
	"github.com/vworkspace/pushd/pkg/store"
)

// Clusters is what the watcher needs of the cluster registry
// (*clusters.Registry).
type Clusters interface {
	Get(ctx context.Context, org, id string) (*clusters.Record, error)
	List(ctx context.Context, org string) ([]*clusters.Record, error)
	Clients(id string) (*clusters.Clients, error)
}

// Breakers tells whether a cluster may be called now (*health.Monitor).
type Breakers interface {
	Allow(cluster string) bool
}

// Corrector queues a re-apply of an application's last applied state and
// answers the queued job's id (*jobs.Service).
type Corrector interface {
	Correct(ctx context.Context, cluster, namespace, application string) (jobID string, err error)
}

var (
	_ Clusters = (*clusters.Registry)(nil)
	_ Breakers = (*health.Monitor)(nil)
)

// ErrUnreachable: the cluster could not be read (its breaker is open, it has
// no credential, or a request failed); its applications are unknown.
var ErrUnreachable = errors.New("cluster unreachable")

// ErrNotRunning: RequestDriftCheck before Run.
var ErrNotRunning = errors.New("observe: watcher not running")

// DefaultPollInterval is Options.PollInterval's default (--status-interval).
const DefaultPollInterval = 30 * time.Second

// Options are the watcher's optional knobs; the zero value is usable.
type Options struct {
	// PollInterval is how often each cluster's objects are read for their
	// status, each cluster on its own schedule. Default 30s.
	PollInterval time.Duration
	// PollTimeout bounds one status poll of one cluster. Default 20s.
	PollTimeout time.Duration
	// DriftTimeout bounds one drift check of one cluster. Default 5m.
	DriftTimeout time.Duration
	// ViewTimeout bounds the inventory listing Applications and Application
	// make. Default 5s.
	ViewTimeout time.Duration
	// ScheduleSync is how often the drift schedules are read again from
	// the cluster records: a changed schedule needs no restart. Default 30s.
	ScheduleSync time.Duration
	// DryRunConcurrency bounds the drift dry-runs in flight per cluster.
	// Default 8; the cluster's rate limit applies on top.
	DryRunConcurrency int
	// DryRunAll skips the managedFields pre-filter: every object is checked
	// with a server-side apply dry-run on every drift check.
	DryRunAll bool
	// ControllerGroups are the API groups whose objects are InProgress until
	// status.observedGeneration reaches metadata.generation, as pkg/apply
	// judges them. Nil means ["vworkspace.io"].
	ControllerGroups []string
	// Corrector re-applies drifted applications of clusters in drift mode
	// "correct"; without one they are only reported.
	Corrector Corrector
	// Notify is called after events were recorded (wakes the outbox).
	Notify func()
	// Assigner limits polls and drift checks to the clusters this replica
	// observes, their writes fenced by the lease (lease.go); a check
	// requested here of another replica's cluster is passed to it. Default
	// leases.Solo: every cluster is observed here.
	Assigner leases.Assigner
	// Schedules parses the records' drift schedules. Default
	// cronspec.Parser{}: five fields, UTC, exactly what a record accepts.
	Schedules cron.ScheduleParser
	Logger    *slog.Logger
	Now       func() time.Time
}

func (o *Options) defaults() {
	if o.Assigner == nil {
		o.Assigner = leases.Solo{}
	}
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.PollTimeout <= 0 {
		o.PollTimeout = 20 * time.Second
	}
	if o.DriftTimeout <= 0 {
		o.DriftTimeout = 5 * time.Minute
	}
	if o.ViewTimeout <= 0 {
		o.ViewTimeout = 5 * time.Second
	}
	if o.ScheduleSync <= 0 {
		o.ScheduleSync = 30 * time.Second
	}
	if o.Schedules == nil {
		o.Schedules = cronspec.Parser{}
	}
	if o.DryRunConcurrency <= 0 {
		o.DryRunConcurrency = 8
	}
	if o.ControllerGroups == nil {
		o.ControllerGroups = []string{"vworkspace.io"}
	}
	if o.Notify == nil {
		o.Notify = func() {}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Watcher keeps the latest view of every cluster's applications: their
// objects' status (polled), their drift (checked on each cluster's cron
// schedule and on demand), and tells Odoo of changes through the outbox.
// Each cluster is polled and checked in its own goroutine with its own
// timeout, so a slow or dead cluster delays no other.
type Watcher struct {
	store    *store.Store
	clusters Clusters
	breakers Breakers
	opts     Options
	groups   map[string]bool

	mu     sync.Mutex
	states map[string]*clusterState
	loop   *loop // set while Run runs
	// tokens are the lease tokens the states were loaded under: a new
	// token means another replica observed the cluster meanwhile.
	tokens map[string]int64
}

// NewWatcher builds a watcher; Run starts its polls and schedules.
func NewWatcher(st *store.Store, cs Clusters, br Breakers, opts Options) *Watcher {
	opts.defaults()
	groups := make(map[string]bool, len(opts.ControllerGroups))
	for _, g := range opts.ControllerGroups {
		groups[g] = true
	}
	return &Watcher{store: st, clusters: cs, breakers: br, opts: opts, groups: groups,
		states: map[string]*clusterState{}, tokens: map[string]int64{}}
}

// clusterState is the watcher's memory of one cluster. What must survive a
// restart — what Odoo was last told of each application — is loaded from
// the store's application states (state.go) and written back with the
// events it causes; the rest is read from the cluster again.
type clusterState struct {
	// drift serialises drift checks of the cluster (a channel so a
	// scheduled check can skip instead of queueing behind one running).
	drift chan struct{}
	// write serialises the recording of readings (record): the state's
	// copy, the database writes, the new state's install. It is taken
	// before mu, and mu is never held across a database write.
	write sync.Mutex

	mu     sync.Mutex
	loaded bool
	// snapshot: a reading of another replica's cluster for a view
	// (lease.go); it records nothing.
	snapshot bool
	apps     map[inventory.Key]*appState
	// saved are the application states as last stored, so a reading that
	// changes none of them writes nothing.
	saved map[inventory.Key]store.ApplicationState
	// refs are pushd's field sets of objects found in sync by a dry-run,
	// for the managedFields pre-filter of later checks.
	refs map[object.ObjMetadata]fieldRef
}

// appState is what the watcher last saw of one application.
type appState struct {
	objects   []objectState // the inventory's objects, sorted
	health    string
	checkedAt time.Time // last poll or check that reached the cluster
	// unknown: the last attempt could not read the cluster.
	unknown bool
	// drift is the last drift check's verdict (DriftInSync, DriftDrifted,
	// or DriftUnknown / "" when it could not tell or never ran), with the
	// objects it found missing or drifted.
	drift   DriftState
	drifted map[object.ObjMetadata]objectDrift
	// reportedHealth and reportedDrift are what Odoo was last told
	// (baselines for events: one per transition); correction is the job
	// queued to correct the reported drift. They, the times below and
	// driftObjects (the reported drift's objects, encoded) are what is
	// stored (store.ApplicationState).
	reportedHealth  string
	reportedDrift   DriftState
	correction      string
	healthChangedAt time.Time
	driftCheckedAt  time.Time
	driftObjects    string
	// driftReason says why drift is unknown after the last check (nil
	// when it is not, or no check ran).
	driftReason *DriftReason
}

type objectState struct {
	id      object.ObjMetadata
	version string
	status  string
	message string
}

type objectDrift struct {
	missing bool
	fields  []DriftedField
}

type fieldRef struct {
	job string
	set *fieldpath.Set
}

func newClusterState() *clusterState {
	return &clusterState{drift: make(chan struct{}, 1), apps: map[inventory.Key]*appState{},
		saved: map[inventory.Key]store.ApplicationState{}, refs: map[object.ObjMetadata]fieldRef{}}
}

// state returns the cluster's state, loaded once from the store with what
// Odoo was last told, so a restart sends no event twice.
func (w *Watcher) state(ctx context.Context, cluster string) *clusterState {
	w.mu.Lock()
	st, ok := w.states[cluster]
	if !ok {
		st = newClusterState()
		w.states[cluster] = st
	}
	w.mu.Unlock()
	st.mu.Lock()
	loaded := st.loaded
	st.mu.Unlock()
	if loaded {
		return st
	}
	st.write.Lock() // no recording while the baselines are read
	defer st.write.Unlock()
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.loaded {
		if err := w.load(ctx, cluster, st); err != nil {
			w.opts.Logger.Warn("read application states", "cluster", cluster, "err", err)
		} else {
			st.loaded = true
		}
	}
	return st
}
