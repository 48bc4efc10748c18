package faultcheck

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/vworkspace/pushd/pkg/store"
)

// JobRef names a job as Odoo does.
type JobRef struct{ Organization, ID string }

func (r JobRef) String() string { return r.Organization + "/" + r.ID }

// Input is what a run produced.
type Input struct {
	// Store is pushd's database, read after the run (pushd may be stopped).
	Store *store.Store
	// Deliveries is the callback receiver's record, in arrival order.
	Deliveries []Delivery
	// Acked are the jobs pushd answered 2xx, with the manifests the test
	// submitted for each (none for a delete). The checker compares the
	// clusters with these, never with the stored copy, so it does not
	// depend on how pushd keeps manifests at rest.
	Acked map[JobRef][]json.RawMessage
	// Refused are the jobs pushd answered 4xx: they must not exist.
	Refused []JobRef
	// Clusters maps a pushd cluster id to an admin config of its API
	// server, for reading objects back; clusters not named are not read.
	Clusters map[string]*rest.Config
}

// Report is what the checker found.
type Report struct {
	Jobs, Events, Deliveries int
	// Objects counts the live objects compared; Pruned those verified gone.
	Objects, Pruned int
	// Resumed counts the jobs whose last attempt is not their first: a
	// claim was taken over (its worker died). Redelivered counts the
	// deliveries of an event already received (at least once). Both show
	// that the faults hit where it matters.
	Resumed, Redelivered int
	// Reordered counts events that first arrived after a later-written
	// event of their cluster about another subject (see checkOrder).
	Reordered int
	// Statuses counts the jobs by terminal status.
	Statuses map[store.JobStatus]int
	// Notes describe what was seen and is no problem (each reordering).
	Notes []string
	// Problems lists every broken invariant; empty when all hold.
	Problems []string
}

// Err joins the problems, or is nil.
func (r *Report) Err() error {
	if len(r.Problems) == 0 {
		return nil
	}
	return errors.New(strings.Join(r.Problems, "\n"))
}

func (r *Report) problem(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

// jobData is what the checker reads of a job.status_changed payload.
type jobData struct {
	ID      string          `json:"id"`
	Status  store.JobStatus `json:"status"`
	Attempt int             `json:"attempt"`
}

const jobStatusChanged = "job.status_changed"

func terminal(s store.JobStatus) bool {
	return s == store.JobSucceeded || s == store.JobFailed || s == store.JobCancelled
}

// maxRows bounds what the checker reads of each table: a fault run stays far
// below it, and a run above it is reported rather than half-checked.
const maxRows = 100000

// Check verifies every invariant the package names and reports what it saw.
// Only a failure to read (the store, a cluster) is an error; broken
// invariants are the report's Problems.
func Check(ctx context.Context, in Input) (*Report, error) {
	rep := &Report{Deliveries: len(in.Deliveries), Statuses: map[store.JobStatus]int{}}
	jobs, err := in.Store.ListJobs(ctx, store.JobFilter{Limit: maxRows})
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	events, err := in.Store.Events(ctx, "", maxRows)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	if len(jobs) == maxRows || len(events) == maxRows {
		return nil, fmt.Errorf("more than %d jobs or events: too many to check", maxRows)
	}
	rep.Jobs, rep.Events = len(jobs), len(events)
	sort.Slice(jobs, func(i, j int) bool { return jobs[i].Seq < jobs[j].Seq })
	sort.Slice(events, func(i, j int) bool { return events[i].Seq < events[j].Seq })
	parked, err := parkedIDs(ctx, in.Store, events)
	if err != nil {
		return nil, err
	}
	checkIntake(rep, in, jobs)
	checkTerminalOnce(rep, in, jobs, events)
	checkOutbox(rep, in, events, parked)
	checkOrder(rep, in, events, parked)
	if err := checkObjects(ctx, rep, in, jobs); err != nil {
		return nil, err
	}
	return rep, nil
}

// parkedIDs are the ids of the events parked now, of every organization
// the events name.
func parkedIDs(ctx context.Context, st *store.Store, events []store.Event) (map[string]bool, error) {
	orgs := map[string]bool{}
	for _, e := range events {
		orgs[e.Organization] = true
	}
	out := map[string]bool{}
	for org := range orgs {
		ps, err := st.ParkedEvents(ctx, org, 0, maxRows)
		if err != nil {
			return nil, fmt.Errorf("organization %q: parked events: %w", org, err)
		}
		for _, p := range ps {
			out[p.ID] = true
		}
	}
	return out, nil
}

// checkIntake: every acknowledged job was stored and is terminal; no
// refused one was.
func checkIntake(rep *Report, in Input, jobs []store.Job) {
	byRef := map[JobRef]*store.Job{}
	for i := range jobs {
		j := &jobs[i]
		byRef[JobRef{j.Organization, j.ID}] = j
		if j.Attempt > 1 {
			rep.Resumed++
		}
		if j.Terminal() {
			rep.Statuses[j.Status]++
		} else {
			rep.problem("job %s is %s, not terminal (attempt %d)", JobRef{j.Organization, j.ID}, j.Status, j.Attempt)
		}
	}
	for ref := range in.Acked {
		if byRef[ref] == nil {
			rep.problem("job %s was acknowledged but is not stored", ref)
		}
	}
	for _, ref := range in.Refused {
		if byRef[ref] != nil {
			rep.problem("job %s was refused but is stored (%s)", ref, byRef[ref].Status)
		}
	}
}

// checkTerminalOnce: one terminal event per job in the store, delivered
// under one webhook-id, agreeing with the row's status and attempt.
func checkTerminalOnce(rep *Report, in Input, jobs []store.Job, events []store.Event) {
	stored := map[JobRef][]store.Event{}
	for _, e := range events {
		if e.Type != jobStatusChanged {
			continue
		}
		var d jobData
		if err := json.Unmarshal([]byte(e.Data), &d); err != nil {
			rep.problem("event %s: unreadable job payload: %v", e.ID, err)
			continue
		}
		if terminal(d.Status) {
			ref := JobRef{e.Organization, d.ID}
			stored[ref] = append(stored[ref], e)
		}
	}
	delivered := map[JobRef]map[string]jobData{} // webhook-id → payload
	for _, d := range in.Deliveries {
		if d.Type != jobStatusChanged {
			continue
		}
		var j jobData
		if err := json.Unmarshal(d.Data, &j); err != nil {
			rep.problem("delivery %s: unreadable job payload: %v", d.WebhookID, err)
			continue
		}
		if !terminal(j.Status) {
			continue
		}
		ref := JobRef{d.Organization, j.ID}
		if delivered[ref] == nil {
			delivered[ref] = map[string]jobData{}
		}
		delivered[ref][d.WebhookID] = j
	}
	for _, j := range jobs {
		ref := JobRef{j.Organization, j.ID}
		if !j.Terminal() {
			continue // reported by checkIntake
		}
		if n := len(stored[ref]); n != 1 {
			rep.problem("job %s: %d terminal events stored, want exactly 1", ref, n)
		}
		got := delivered[ref]
		if len(got) != 1 {
			ids := make([]string, 0, len(got))
			for id, d := range got {
				ids = append(ids, fmt.Sprintf("%s (%s, attempt %d)", id, d.Status, d.Attempt))
			}
			sort.Strings(ids)
			rep.problem("job %s: %d distinct terminal events delivered %v, want exactly 1", ref, len(got), ids)
			continue
		}
		for id, d := range got {
			if d.Status != j.Status {
				rep.problem("job %s: delivered %s (event %s) but stored %s", ref, d.Status, id, j.Status)
			}
			if d.Attempt != j.Attempt {
				rep.problem("job %s: terminal event %s is of attempt %d, the row's last claim is attempt %d (a stale claim wrote it)", ref, id, d.Attempt, j.Attempt)
			}
		}
	}
}

// checkOutbox: the store's events and the receiver's record are the same
// set, but for parked events.
func checkOutbox(rep *Report, in Input, events []store.Event, parked map[string]bool) {
	received := map[string]bool{}
	for _, d := range in.Deliveries {
		if received[d.WebhookID] {
			rep.Redelivered++
		}
		received[d.WebhookID] = true
	}
	held := map[string]bool{}
	for _, e := range events {
		held[e.ID] = true
		switch {
		case parked[e.ID]:
		case e.DeliveredAt == nil:
			rep.problem("event %s (%s, cluster %q) is not delivered: the outbox is not drained", e.ID, e.Type, e.Cluster)
		case !received[e.ID]:
			rep.problem("event %s (%s, cluster %q) is marked delivered but never reached the receiver", e.ID, e.Type, e.Cluster)
		}
	}
	for id := range received {
		if !held[id] {
			rep.problem("delivery %s is no event of the store", id)
		}
	}
}

// checkOrder: per cluster, the first arrival of each event comes after the
// first arrival of every event the store wrote before it about the same
// subject (a job, an application, the cluster itself). A retry of an event
// may arrive again later (at least once); a parked event is out of order by
// design. Events of different subjects written by concurrent transactions
// are ordered as they committed, which on PostgreSQL need not be the order
// of their sequence numbers: those inversions are counted (Reordered), not
// reported.
func checkOrder(rep *Report, in Input, events []store.Event, parked map[string]bool) {
	byID := map[string]store.Event{}
	for _, e := range events {
		byID[e.ID] = e
	}
	type last struct {
		seq int64
		id  string
	}
	latest := map[string]last{} // cluster + subject → latest first arrival
	cluster := map[string]last{}
	seen := map[string]bool{}
	for _, d := range in.Deliveries {
		e, ok := byID[d.WebhookID]
		if !ok || seen[d.WebhookID] || parked[d.WebhookID] {
			continue
		}
		seen[d.WebhookID] = true
		if l := cluster[d.Cluster]; e.Seq < l.seq {
			rep.Reordered++
			rep.Notes = append(rep.Notes, fmt.Sprintf("cluster %q: %s event %s about the %s (seq %d) first arrived after %s (seq %d, about the %s): committed after it",
				d.Cluster, e.Type, e.ID, subject(e), e.Seq, l.id, l.seq, subject(byID[l.id])))
		} else {
			cluster[d.Cluster] = last{e.Seq, e.ID}
		}
		key := d.Cluster + "\x00" + subject(e)
		if l := latest[key]; e.Seq < l.seq {
			rep.problem("cluster %q: %s event %s (store seq %d) first arrived after %s (seq %d) about the same %s", d.Cluster, e.Type, e.ID, e.Seq, l.id, l.seq, subject(e))
			continue
		}
		latest[key] = last{e.Seq, e.ID}
	}
}

// subject is what an event is about: its job, its application, or its
// cluster as a whole.
func subject(e store.Event) string {
	var d struct{ ID, Namespace, Application string }
	json.Unmarshal([]byte(e.Data), &d)
	switch {
	case e.Type == jobStatusChanged:
		return "job " + d.ID
	case d.Application != "":
		return "application " + d.Namespace + "/" + d.Application
	}
	return "cluster"
}

// appKey is one application of one cluster.
type appKey struct{ cluster, namespace, application string }

// checkObjects reads each application's objects back from its cluster.
func checkObjects(ctx context.Context, rep *Report, in Input, jobs []store.Job) error {
	history := map[appKey][]store.Job{} // oldest first
	for _, j := range jobs {
		k := appKey{j.Cluster, j.Namespace, j.Application}
		history[k] = append(history[k], j)
	}
	readers := map[string]*reader{}
	for k, js := range history {
		cfg := in.Clusters[k.cluster]
		if cfg == nil {
			continue
		}
		if readers[k.cluster] == nil {
			r, err := newReader(cfg)
			if err != nil {
				return fmt.Errorf("cluster %q: %w", k.cluster, err)
			}
			readers[k.cluster] = r
		}
		if err := checkApplication(ctx, rep, in, readers[k.cluster], k, js); err != nil {
			return fmt.Errorf("cluster %q: application %s/%s: %w", k.cluster, k.namespace, k.application, err)
		}
	}
	return nil
}

// checkApplication compares one application's live objects with its
// latest intent: the newest job that passed its preflight. Only a
// succeeded one says what must be live; after a failed or cancelled one
// either version may be.
func checkApplication(ctx context.Context, rep *Report, in Input, r *reader, k appKey, js []store.Job) error {
	latest := -1
	for i, j := range js {
		if j.Intent {
			latest = i
		}
	}
	if latest < 0 || js[latest].Status != store.JobSucceeded {
		return nil
	}
	want := js[latest]
	ref := JobRef{want.Organization, want.ID}
	manifests, ok := in.Acked[ref]
	if !ok {
		return nil // pushd queued it itself (a drift correction): the test has no copy
	}
	current := map[string]bool{}
	for _, raw := range manifests {
		m, err := decode(raw, k.namespace)
		if err != nil {
			return fmt.Errorf("job %s: %w", ref, err)
		}
		current[objectKey(m)] = true
		live, err := r.get(ctx, m)
		if apierrors.IsNotFound(err) {
			rep.problem("cluster %q: %s of job %s (the latest succeeded intent) is missing", k.cluster, objectKey(m), ref)
			continue
		}
		if err != nil {
			return err
		}
		rep.Objects++
		if path, ok := contains(live.Object, m.Object, ""); !ok {
			rep.problem("cluster %q: %s differs from job %s (the latest succeeded intent) at %s", k.cluster, objectKey(m), ref, path)
		}
	}
	// What earlier jobs named and the latest does not must have been pruned.
	gone := map[string]*unstructured.Unstructured{}
	for _, j := range js[:latest] {
		for _, raw := range in.Acked[JobRef{j.Organization, j.ID}] {
			m, err := decode(raw, k.namespace)
			if err != nil {
				return fmt.Errorf("job %s/%s: %w", j.Organization, j.ID, err)
			}
			if !current[objectKey(m)] {
				gone[objectKey(m)] = m
			}
		}
	}
	for key, m := range gone {
		_, err := r.get(ctx, m)
		switch {
		case apierrors.IsNotFound(err):
			rep.Pruned++
		case err != nil:
			return err
		default:
			rep.problem("cluster %q: %s is live, but job %s (the latest succeeded intent) does not name it: not pruned", k.cluster, key, ref)
		}
	}
	return nil
}

func decode(raw json.RawMessage, namespace string) (*unstructured.Unstructured, error) {
	m := &unstructured.Unstructured{}
	if err := m.UnmarshalJSON(raw); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if m.GetNamespace() == "" {
		m.SetNamespace(namespace)
	}
	return m, nil
}

func objectKey(m *unstructured.Unstructured) string {
	return m.GroupVersionKind().GroupKind().String() + "/" + m.GetNamespace() + "/" + m.GetName()
}

// contains reports whether live has every field want sets, with want's
// value, and the path of the first that differs. Lists compare whole; a
// null in want sets nothing.
func contains(live, want map[string]any, path string) (string, bool) {
	for k, w := range want {
		if w == nil {
			continue
		}
		p := path + "." + k
		l, ok := live[k]
		if !ok {
			return p, false
		}
		wm, wIsMap := w.(map[string]any)
		lm, lIsMap := l.(map[string]any)
		if wIsMap && lIsMap {
			if at, ok := contains(lm, wm, p); !ok {
				return at, false
			}
			continue
		}
		if !reflect.DeepEqual(normalize(l), normalize(w)) {
			return p, false
		}
	}
	return "", true
}

// normalize makes numbers comparable whatever decoded them (int64 from the
// API server's JSON, float64 from encoding/json).
func normalize(v any) any {
	b, _ := json.Marshal(v)
	var out any
	json.Unmarshal(b, &out)
	return out
}

// reader gets objects of any kind from one cluster.
type reader struct {
	dyn    dynamic.Interface
	mapper *restmapper.DeferredDiscoveryRESTMapper
}

func newReader(cfg *rest.Config) (*reader, error) {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &reader{dyn: dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))}, nil
}

func (r *reader) get(ctx context.Context, m *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	gvk := m.GroupVersionKind()
	mapping, err := r.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", objectKey(m), err)
	}
	return r.dyn.Resource(mapping.Resource).Namespace(m.GetNamespace()).Get(ctx, m.GetName(), metav1.GetOptions{})
}
