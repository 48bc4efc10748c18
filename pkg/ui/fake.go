package ui

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/health"
	"github.com/vworkspace/pushd/pkg/jobs"
	"github.com/vworkspace/pushd/pkg/observe"
)

// In-memory implementations of the UI's interfaces, for tests that render
// the pages without a cluster or a database. Each keeps what it is given in
// exported fields; Err, when set, is returned by every call. Organizations
// are kept apart as the real services keep them: another organization's
// record or job is not found.

var (
	_ Clusters  = (*FakeClusters)(nil)
	_ Health    = (*FakeHealth)(nil)
	_ Jobs      = (*FakeJobs)(nil)
	_ Manifests = (*FakeJobs)(nil)
	_ Inventory = (*FakeInventory)(nil)
	_ Callbacks = (*FakeCallbacks)(nil)
	_ Events    = (*FakeEvents)(nil)
	_ AuditLog  = (*FakeAuditLog)(nil)
	_ Sessions  = (*FakeSessions)(nil)
)

// FakeClusters holds cluster records by organization.
type FakeClusters struct {
	Records map[string][]*clusters.Record // by organization
	Err     error
}

func (f *FakeClusters) Get(_ context.Context, org, id string) (*clusters.Record, error) {
	if f.Err != nil {
		return nil, f.Err
	}
	for _, r := range f.Records[org] {
		if r.ID == id {
			return r, nil
		}
	}
	return nil, clusters.ErrNotFound
}

func (f *FakeClusters) List(_ context.Context, org string) ([]*clusters.Record, error) {
	return slices.Clone(f.Records[org]), f.Err
}

// FakeHealth holds what was observed of each cluster, by cluster id; Set
// changes it while pages are served.
type FakeHealth struct {
	mu     sync.Mutex
	Status map[string]health.Status
	Err    error
}

func (f *FakeHealth) Observed(_ context.Context, id string) (health.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.Status[id], f.Err
}

func (f *FakeHealth) ObservedAll(context.Context) (map[string]health.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.Status), f.Err
}

// Set is what the monitor observes of cluster id from now on.
func (f *FakeHealth) Set(id string, st health.Status) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Status == nil {
		f.Status = map[string]health.Status{}
	}
	f.Status[id] = st
}

// FakeJobs holds jobs, newest last, and their stored manifests by job id.
// Cancel cancels a queued or running job at once; Update changes a job
// while pages are served. Reads answer copies.
type FakeJobs struct {
	mu        sync.Mutex
	Jobs      []*jobs.Job
	Stored    map[string]string // job id → manifests as stored (a JSON array)
	Cancelled []string          // the ids Cancel was called with
	Err       error
}

func (f *FakeJobs) Get(_ context.Context, org, id string) (*jobs.Job, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	j, err := f.find(org, id)
	if err != nil {
		return nil, err
	}
	c := *j
	return &c, nil
}

// find is org's job id as held.
func (f *FakeJobs) find(org, id string) (*jobs.Job, error) {
	if f.Err != nil {
		return nil, f.Err
	}
	for _, j := range f.Jobs {
		if j.ID == id && j.Organization == org {
			return j, nil
		}
	}
	return nil, jobs.ErrNotFound
}

// Update applies change to job id (of any organization), as its runner would.
func (f *FakeJobs) Update(id string, change func(*jobs.Job)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, j := range f.Jobs {
		if j.ID == id {
			change(j)
		}
	}
}

// List filters as jobs.Service does; its cursor is the offset of the next page.
func (f *FakeJobs) List(_ context.Context, org string, o jobs.ListOptions) (*jobs.Page, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Err != nil {
		return nil, f.Err
	}
	var all []jobs.Summary
	for i := len(f.Jobs) - 1; i >= 0; i-- {
		j := f.Jobs[i]
		rid := ""
		if j.RequestID != nil {
			rid = *j.RequestID
		}
		if j.Organization != org || !matches(o.Cluster, j.Cluster) || !matches(o.Namespace, j.Namespace) || !matches(o.Application, j.Application) || !matches(o.Action, j.Action) ||
			!matches(string(o.Status), string(j.Status)) || !matches(o.RequestID, rid) || !matches(o.Trigger, j.Trigger) {
			continue
		}
		c := *j
		all = append(all, jobs.Summary{Job: &c})
	}
	from, _ := strconv.Atoi(o.Cursor)
	limit := o.Limit
	if limit == 0 {
		limit = 100
	}
	p := &jobs.Page{Items: all[min(from, len(all)):min(from+limit, len(all))]}
	if from+limit < len(all) {
		next := strconv.Itoa(from + limit)
		p.NextCursor = &next
	}
	return p, nil
}

func matches(filter, value string) bool { return filter == "" || filter == value }

func (f *FakeJobs) RecentByCluster(ctx context.Context, org string, n int) (map[string][]jobs.Summary, error) {
	p, err := f.List(ctx, org, jobs.ListOptions{Limit: len(f.Jobs) + 1})
	if err != nil {
		return nil, err
	}
	out := map[string][]jobs.Summary{}
	for _, s := range p.Items {
		if len(out[s.Cluster]) < n {
			out[s.Cluster] = append(out[s.Cluster], s)
		}
	}
	return out, nil
}

func (f *FakeJobs) Cancel(_ context.Context, org, id string) (*jobs.Job, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	j, err := f.find(org, id)
	if err != nil {
		return nil, err
	}
	f.Cancelled = append(f.Cancelled, id)
	if j.Status == jobs.Queued || j.Status == jobs.Running {
		j.Status = jobs.Cancelled
	}
	c := *j
	return &c, nil
}

func (f *FakeJobs) RequestJobs(_ context.Context, org, requestID string) ([]*jobs.Job, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Err != nil {
		return nil, f.Err
	}
	var out []*jobs.Job
	for _, j := range f.Jobs {
		if j.Organization == org && j.RequestID != nil && *j.RequestID == requestID {
			c := *j
			out = append(out, &c)
		}
	}
	if len(out) == 0 {
		return nil, jobs.ErrNotFound
	}
	return out, nil
}

func (f *FakeJobs) Request(ctx context.Context, org, requestID string) (*jobs.RequestView, error) {
	js, err := f.RequestJobs(ctx, org, requestID)
	if err != nil {
		return nil, err
	}
	return jobs.NewRequestView(requestID, js), nil
}

func (f *FakeJobs) CancelRequest(ctx context.Context, org, requestID string) (*jobs.RequestView, error) {
	js, err := f.RequestJobs(ctx, org, requestID)
	if err != nil {
		return nil, err
	}
	for _, j := range js {
		if _, err := f.Cancel(ctx, org, j.ID); err != nil {
			return nil, err
		}
	}
	return f.Request(ctx, org, requestID)
}

func (f *FakeJobs) Manifests(ctx context.Context, org, id string) (string, error) {
	if _, err := f.Get(ctx, org, id); err != nil {
		return "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.Stored[id], nil
}

// FakeInventory holds each cluster's applications (by cluster id) and their
// details (by "cluster/namespace/application").
type FakeInventory struct {
	mu      sync.Mutex
	Apps    map[string][]observe.Application
	Details map[string]*observe.ApplicationDetail
	// DriftChecks are the clusters a drift check was requested for.
	DriftChecks []string
	Err         error
}

func (f *FakeInventory) ApplicationList(_ context.Context, cluster string) (*observe.ApplicationList, error) {
	if f.Err != nil {
		return nil, f.Err
	}
	return &observe.ApplicationList{Items: slices.Clone(f.Apps[cluster])}, nil
}

func (f *FakeInventory) Application(_ context.Context, cluster, namespace, application string) (*observe.ApplicationDetail, error) {
	if f.Err != nil {
		return nil, f.Err
	}
	if d, ok := f.Details[cluster+"/"+namespace+"/"+application]; ok {
		return d, nil
	}
	return nil, observe.ErrNotFound
}

func (f *FakeInventory) RequestDriftCheck(_ context.Context, cluster string) (time.Time, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.DriftChecks = append(f.DriftChecks, cluster)
	return time.Now(), f.Err
}

func (f *FakeInventory) Counts(cluster string) (total, drifted int) {
	for _, a := range f.Apps[cluster] {
		total++
		if a.Drift == observe.DriftDrifted {
			drifted++
		}
	}
	return total, drifted
}

func (f *FakeInventory) FailedCount(cluster string) int {
	n := 0
	for _, a := range f.Apps[cluster] {
		if a.Health == "Failed" {
			n++
		}
	}
	return n
}

// FakeCallbacks holds parked callbacks; Resend takes one off the list.
type FakeCallbacks struct {
	mu     sync.Mutex
	Events []ParkedEvent
	Err    error
}

// ParkedEvents are org's parked callbacks, in order.
func (f *FakeCallbacks) ParkedEvents(org string) []ParkedEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []ParkedEvent
	for _, e := range f.Events {
		if e.Organization == org {
			out = append(out, e)
		}
	}
	return out
}

func (f *FakeCallbacks) Parked(_ context.Context, org string, after int64, limit int) ([]ParkedEvent, error) {
	if f.Err != nil {
		return nil, f.Err
	}
	var out []ParkedEvent
	for _, e := range f.ParkedEvents(org) {
		if e.Seq > after && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

func (f *FakeCallbacks) Resend(_ context.Context, org, id string) (*Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Err != nil {
		return nil, f.Err
	}
	for i, e := range f.Events {
		if e.ID == id && e.Organization == org {
			f.Events = slices.Delete(f.Events, i, i+1)
			return &e.Event, nil
		}
	}
	return nil, ErrNotParked
}

// FakeEvents holds each cluster's events, newest first, by cluster id.
type FakeEvents struct {
	ByCluster map[string][]Event
	Err       error
}

func (f *FakeEvents) Events(_ context.Context, cluster string, limit int) ([]Event, error) {
	es := f.ByCluster[cluster]
	return slices.Clone(es[:min(limit, len(es))]), f.Err
}

// FakeAuditLog holds audit entries, oldest first, and filters them as the
// store does (organization, since, until, cluster, action, after, limit).
type FakeAuditLog struct {
	Entries []AuditEntry
	Err     error
}

func (f *FakeAuditLog) AuditEntries(_ context.Context, org string, q AuditQuery) ([]AuditEntry, error) {
	if f.Err != nil {
		return nil, f.Err
	}
	var out []AuditEntry
	for _, e := range f.Entries {
		switch {
		case e.Organization != org, e.Seq <= q.After, !matches(q.Cluster, e.Cluster), !matches(string(q.Action), string(e.Action)),
			!q.Since.IsZero() && e.At.Before(q.Since), !q.Until.IsZero() && !e.At.Before(q.Until):
			continue
		}
		if q.Limit > 0 && len(out) == q.Limit {
			break
		}
		out = append(out, e)
	}
	return out, nil
}

// FakeSessions keeps sessions by the hash of their id, and the audit
// entries written with them, as the database does.
type FakeSessions struct {
	mu    sync.Mutex
	Rows  map[string]StoredSession // by IDHash
	Audit []AuditEntry
	Err   error
}

func (f *FakeSessions) SaveUISession(_ context.Context, s StoredSession, audit *AuditEntry) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Err != nil {
		return f.Err
	}
	if f.Rows == nil {
		f.Rows = map[string]StoredSession{}
	}
	f.Rows[s.IDHash] = s
	f.audit(audit)
	return nil
}

func (f *FakeSessions) UISessionByHash(_ context.Context, idHash string, now time.Time) (*StoredSession, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Err != nil {
		return nil, f.Err
	}
	if s, ok := f.Rows[idHash]; ok && now.Before(s.ExpiresAt) {
		return &s, nil
	}
	return nil, nil
}

func (f *FakeSessions) DeleteUISession(_ context.Context, idHash string, audit *AuditEntry) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Err != nil {
		return f.Err
	}
	delete(f.Rows, idHash)
	f.audit(audit)
	return nil
}

func (f *FakeSessions) audit(e *AuditEntry) {
	if e != nil {
		f.Audit = append(f.Audit, *e)
	}
}
