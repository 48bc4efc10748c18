package fleet

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/health"
)

// The fakes below stand in for the interfaces of deps.go in tests that need
// no cluster and no database. Each writes what it was asked into a Calls
// shared by the fakes of one test, so a test can read the order of the
// steps across them; Err (by method name) makes a method fail.

// Calls is the ordered list of calls fakes received, as "Method arg".
type Calls struct {
	mu   sync.Mutex
	list []string
}

func (c *Calls) add(format string, a ...any) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.list = append(c.list, fmt.Sprintf(format, a...))
}

// List returns the calls so far.
func (c *Calls) List() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.list...)
}

// FakeRegistry is a Registry in memory. SetKubeconfig stores the
// kubeconfig's bytes as the credential's token, without parsing them.
type FakeRegistry struct {
	Calls *Calls
	Err   map[string]error

	mu          sync.Mutex
	Records     map[string]*clusters.Record
	Credentials map[string]*clusters.Credential
}

var _ Registry = (*FakeRegistry)(nil)

func (f *FakeRegistry) Get(_ context.Context, org, id string) (*clusters.Record, error) {
	f.Calls.add("Get %s", id)
	if err := f.Err["Get"]; err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	rec, ok := f.Records[id]
	if !ok || (org != "" && rec.Organization != org) {
		return nil, clusters.ErrNotFound
	}
	cp := *rec
	return &cp, nil
}

func (f *FakeRegistry) Delete(_ context.Context, org, id string) error {
	f.Calls.add("Delete %s", id)
	if err := f.Err["Delete"]; err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.Records, id)
	delete(f.Credentials, id)
	return nil
}

func (f *FakeRegistry) SetKubeconfig(_ context.Context, org, id string, kubeconfig []byte) error {
	f.Calls.add("SetKubeconfig %s", id)
	if err := f.Err["SetKubeconfig"]; err != nil {
		return err
	}
	f.store(id, &clusters.Credential{Token: string(kubeconfig)})
	return nil
}

func (f *FakeRegistry) Credential(id string) (*clusters.Credential, error) {
	f.Calls.add("Credential %s", id)
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.Credentials[id]
	if !ok {
		return nil, clusters.ErrNoCredentials
	}
	return c, nil
}

func (f *FakeRegistry) RestoreCredential(id string, c *clusters.Credential) error {
	f.Calls.add("RestoreCredential %s", id)
	if err := f.Err["RestoreCredential"]; err != nil {
		return err
	}
	f.store(id, c)
	return nil
}

func (f *FakeRegistry) store(id string, c *clusters.Credential) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Credentials == nil {
		f.Credentials = map[string]*clusters.Credential{}
	}
	f.Credentials[id] = c
}

// FakeHealth is a Health whose probe is Probe; Check stores its result,
// which Observed then returns (never probed: the zero Status).
type FakeHealth struct {
	Calls *Calls
	Err   map[string]error
	// Probe is what a probe of the cluster finds now.
	Probe func(rec *clusters.Record) health.Status

	mu       sync.Mutex
	Statuses map[string]health.Status
}

var _ Health = (*FakeHealth)(nil)

func (f *FakeHealth) Check(_ context.Context, rec *clusters.Record) (health.Status, error) {
	f.Calls.add("Check %s", rec.ID)
	if err := f.Err["Check"]; err != nil {
		return health.Status{}, err
	}
	st := f.Probe(rec)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Statuses == nil {
		f.Statuses = map[string]health.Status{}
	}
	f.Statuses[rec.ID] = st
	return st, nil
}

func (f *FakeHealth) Observed(_ context.Context, id string) (health.Status, error) {
	if err := f.Err["Observed"]; err != nil {
		return health.Status{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if st, ok := f.Statuses[id]; ok {
		return st, nil
	}
	return health.Status{}, nil
}

func (f *FakeHealth) Reset(id string) { f.Calls.add("Reset %s", id) }

func (f *FakeHealth) Forget(id string) {
	f.Calls.add("Health.Forget %s", id)
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.Statuses, id)
}

// FakeJobs is a Jobs that cancels nothing but the call.
type FakeJobs struct {
	Calls *Calls
	Err   error
}

var _ Jobs = (*FakeJobs)(nil)

func (f *FakeJobs) CancelCluster(_ context.Context, org, cluster string) error {
	f.Calls.add("CancelCluster %s", cluster)
	return f.Err
}

// FakeObservations is an Observations that records what it forgot.
type FakeObservations struct{ Calls *Calls }

var _ Observations = (*FakeObservations)(nil)

func (f *FakeObservations) Forget(cluster string) { f.Calls.add("Observations.Forget %s", cluster) }

// FakeStore is a JanitorStore and a RetentionStore that prunes nothing:
// each verb records its cutoff and answers N[verb] rows, or Err[verb].
type FakeStore struct {
	Calls *Calls
	N     map[string]int64
	Err   map[string]error
}

var (
	_ JanitorStore   = (*FakeStore)(nil)
	_ RetentionStore = (*FakeStore)(nil)
)

func (f *FakeStore) prune(verb string, before time.Time) (int64, error) {
	f.Calls.add("%s %s", verb, before.UTC().Format(time.RFC3339))
	if err := f.Err[verb]; err != nil {
		return 0, err
	}
	return f.N[verb], nil
}

func (f *FakeStore) PruneMessages(_ context.Context, before time.Time) (int64, error) {
	return f.prune("PruneMessages", before)
}

func (f *FakeStore) ForgetManifests(_ context.Context, before time.Time) (int64, error) {
	return f.prune("ForgetManifests", before)
}

func (f *FakeStore) PruneUnsentEvents(_ context.Context, before time.Time) (int64, error) {
	return f.prune("PruneUnsentEvents", before)
}

func (f *FakeStore) PruneJobs(_ context.Context, before time.Time) (int64, error) {
	return f.prune("PruneJobs", before)
}

func (f *FakeStore) PruneEvents(_ context.Context, before time.Time) (int64, error) {
	return f.prune("PruneEvents", before)
}
