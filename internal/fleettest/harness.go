package fleettest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/internal/testbed"
	"github.com/vworkspace/pushd/pkg/apply"
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/health"
	"github.com/vworkspace/pushd/pkg/jobs"
	"github.com/vworkspace/pushd/pkg/store"
)

// Org is the organization the harness registers its clusters for.
const Org = "acme"

// Fleet is pushd's cluster machinery on one test database: the store, a
// credential store in a temporary folder, the registry over both and a
// monitor (not started). Everything is closed when the test ends.
type Fleet struct {
	Store    *store.Store
	Creds    *clusters.CredentialStore
	Registry *clusters.Registry
	Monitor  *health.Monitor
	Logger   *slog.Logger
}

// Options tune a Fleet; the zero value is usable.
type Options struct {
	// Clients are the clusters' client options.
	Clients clusters.ClientOptions
	// Monitor tunes the monitor.
	Monitor health.MonitorOptions
	// Store tunes the store.
	Store store.Options
	// Logger receives the registry's and the job machinery's logs (and the
	// monitor's, unless Monitor names a logger); warnings to stderr when nil.
	Logger *slog.Logger
}

// New builds a Fleet on db.
func New(t testing.TB, db dbtest.Database, opts Options) *Fleet {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = warnLogger()
	}
	if opts.Monitor.Logger == nil {
		opts.Monitor.Logger = opts.Logger
	}
	st, err := store.Open(context.Background(), db.Driver, db.DSN, opts.Store)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	creds, err := clusters.NewCredentialStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	reg := clusters.NewRegistry(st, creds, clusters.RegistryOptions{Clients: opts.Clients, Logger: opts.Logger})
	return &Fleet{Store: st, Creds: creds, Registry: reg, Monitor: health.NewMonitor(reg, st, opts.Monitor), Logger: opts.Logger}
}

// AdminFleet is a Fleet on db with each of cs registered under its own
// name, allowed namespace default, with its admin credential.
func AdminFleet(t testing.TB, db dbtest.Database, cs ...*testbed.Cluster) *Fleet {
	t.Helper()
	f := New(t, db, Options{})
	for _, c := range cs {
		if _, _, err := f.Registry.Put(context.Background(), Org, clusters.Record{ID: c.Name, AllowedNamespaces: []string{"default"}}); err != nil {
			t.Fatal(err)
		}
		if err := f.Creds.Save(c.Name, &clusters.Credential{Server: c.Host, CAData: c.CAData, Token: c.AdminToken}); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// RandomID is a short random suffix for cluster ids and namespaces, so tests
// sharing a test bed never meet.
func RandomID() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Record is the identity record the harness gives an enrolled cluster: the
// namespace ns, applications nextcloud and mattermost, operation
// manifest/deploy, and drift.
func Record(id, ns string, drift clusters.Drift) clusters.Record {
	return clusters.Record{ID: id, AllowedNamespaces: []string{ns}, AllowedApplications: []string{"nextcloud", "mattermost"},
		AllowedOperations: []clusters.Operation{{Engine: "manifest", Type: "deploy"}}, Drift: drift}
}

// EnrollManaged registers each test-bed cluster under a fresh id (its name
// and a random suffix) with Record(id, ns, drift), creates the managed
// namespace ns on it and stores a bootstrapped least-privilege credential.
// It returns the ids, in the order of cs.
func (f *Fleet) EnrollManaged(t testing.TB, ns string, drift clusters.Drift, cs ...*testbed.Cluster) []string {
	t.Helper()
	var ids []string
	for _, c := range cs {
		ManagedNamespace(t, c, ns)
		id := c.Name + "-" + RandomID()
		if _, _, err := f.Registry.Put(context.Background(), Org, Record(id, ns, drift)); err != nil {
			t.Fatal(err)
		}
		Enroll(t, f.Creds, c, id, []string{ns})
		ids = append(ids, id)
	}
	return ids
}

// Jobs is the fleet's job machinery: the service and its runner, running
// until the test ends.
type Jobs struct {
	Service *jobs.Service
	Runner  *jobs.Runner
}

// StartJobs starts a runner (polling every 100ms, 5s leases) and the
// service that wakes it.
func (f *Fleet) StartJobs(t testing.TB) *Jobs {
	t.Helper()
	runner := jobs.NewRunner(f.Store, f.Registry, jobs.EnginesOf(apply.NewEngines(f.Registry, apply.Options{Logger: f.Logger})), f.Monitor,
		jobs.RunnerOptions{Poll: 100 * time.Millisecond, Lease: 5 * time.Second, Logger: f.Logger, RetryBackoff: 500 * time.Millisecond})
	svc := jobs.NewService(f.Store, f.Registry, f.Monitor, jobs.ServiceOptions{Notify: runner.Notify})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { runner.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return &Jobs{Service: svc, Runner: runner}
}

// Wait returns the job of Org once it is terminal, failing the test after within.
func (j *Jobs) Wait(t testing.TB, id string, within time.Duration) *jobs.Job {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		job, err := j.Service.Get(context.Background(), Org, id)
		if err != nil {
			t.Fatal(err)
		}
		if job.Status == store.JobSucceeded || job.Status == store.JobFailed || job.Status == store.JobCancelled {
			return job
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still %s after %s", id, job.Status, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Submit submits a job of Org, failing the test unless it was created.
func (j *Jobs) Submit(t testing.TB, s jobs.Spec) {
	t.Helper()
	if _, created, err := j.Service.Submit(context.Background(), Org, s); err != nil || !created {
		t.Fatalf("submit %s: created=%v err=%v", s.ID, created, err)
	}
}

// Bed is a package's test bed, started the first time a test asks for
// its clusters: the tests of a package that need no cluster (HTTP,
// signatures, rendering, policy on fakes) run without building or
// starting kube-apiserver and etcd. Main stops it when it was started.
type Bed struct {
	opts testbed.Options
	once sync.Once
	bed  *testbed.Bed
}

// LazyBed is a Bed with opts, not started yet.
func LazyBed(opts testbed.Options) *Bed { return &Bed{opts: opts} }

// QuietBed is a LazyBed of n clusters that logs warnings only, to stderr.
func QuietBed(n int) *Bed {
	return LazyBed(testbed.Options{Clusters: n, Logger: warnLogger()})
}

func warnLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// Clusters are the bed's clusters, the bed started (and its binaries
// built, the first time on this machine) on the first call. A bed that
// cannot start ends the test binary with the reason.
func (b *Bed) Clusters() []*testbed.Cluster { return b.get().Clusters }

// Each runs fn once per database (dbtest.Each) on the bed's cluster i,
// with a context that ends with the subtest: the opening of a test that
// drives one test-bed cluster from a store of each kind.
func (b *Bed) Each(t *testing.T, i int, fn func(t *testing.T, ctx context.Context, db dbtest.Database, c *testbed.Cluster)) {
	t.Helper()
	c := b.Clusters()[i]
	dbtest.EachContext(t, func(t *testing.T, ctx context.Context, db dbtest.Database) {
		fn(t, ctx, db, c)
	})
}

// Binaries are the programs the bed runs.
func (b *Bed) Binaries() testbed.Binaries { return b.get().Binaries }

func (b *Bed) get() *testbed.Bed {
	b.once.Do(func() { b.bed = testbed.MustStart(b.opts) })
	return b.bed
}

// Main is the TestMain of a package testing against the test bed: it runs
// the package's tests (on every database, see dbtest.Main), stops the bed
// if a test started it, and exits with the tests' code.
func Main(m *testing.M, bed *Bed) {
	flag.Parse()
	code := dbtest.Main(m)
	if bed.bed != nil {
		if err := bed.bed.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop test bed:", err)
		}
	}
	os.Exit(code)
}

// Env is a Fleet with its job machinery running and test-bed clusters
// enrolled in one fresh managed namespace: what the tests of pkg/jobs and
// pkg/observe run on.
type Env struct {
	*Fleet
	*Jobs
	IDs []string // cluster ids, one per test-bed cluster given
	NS  string   // the managed namespace (same name on every cluster)
}

// NewEnv builds a Fleet with opts, enrolls each of cs (EnrollManaged, with
// drift) in a fresh namespace and starts the job machinery.
func NewEnv(t testing.TB, db dbtest.Database, opts Options, drift clusters.Drift, cs ...*testbed.Cluster) *Env {
	t.Helper()
	e := &Env{Fleet: New(t, db, opts), NS: "t-" + RandomID()}
	e.IDs = e.EnrollManaged(t, e.NS, drift, cs...)
	e.Jobs = e.StartJobs(t)
	return e
}
