package faultcheck

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"k8s.io/client-go/rest"

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
