package jobs

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/vworkspace/pushd/pkg/store"
)

// Get returns a job of org.
func (s *Service) Get(ctx context.Context, org, id string) (*Job, error) {
	row, err := s.store.GetJob(ctx, org, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return FromRow(row), nil
}

// ListOptions filter and page a job listing.
type ListOptions struct {
	Cluster, RequestID string
	// Namespace, Application, Trigger and Action narrow the listing further.
	Namespace, Application, Trigger, Action string
	Status                                  store.JobStatus
	// Limit is the page size (1-500); 0 means 100.
	Limit int
	// Cursor continues a listing from the previous page's NextCursor.
	Cursor string
}

// Page is one page of a listing, newest first.
type Page struct {
	Items      []Summary `json:"items"`
	NextCursor *string   `json:"next_cursor"`
}

// Summary is a job in a listing: everything but its objects, which
// GET /jobs/{id} has.
type Summary struct {
	*Job
	Objects *struct{} `json:"objects,omitempty"` // shadows Job.Objects; always nil
}

// List returns org's jobs, newest first, a page at a time.
func (s *Service) List(ctx context.Context, org string, o ListOptions) (*Page, error) {
	rows, next, err := s.page(ctx, store.JobFilter{Organization: org, Cluster: o.Cluster, RequestID: o.RequestID, Status: o.Status,
		Namespace: o.Namespace, Application: o.Application, Trigger: o.Trigger, Action: o.Action}, o.Cursor, o.Limit)
	if err != nil {
		return nil, err
	}
	p := &Page{Items: make([]Summary, 0, len(rows)), NextCursor: next}
	for i := range rows {
		p.Items = append(p.Items, Summary{Job: FromRow(&rows[i])})
	}
	return p, nil
}

// page reads one page of the jobs f selects, newest first: limit of them
// (0 means 100, at most 500) before the one cursor names, and the cursor
// of the next page (nil on the last).
func (s *Service) page(ctx context.Context, f store.JobFilter, cursor string, limit int) ([]store.Job, *string, error) {
	if limit == 0 {
		limit = 100
	}
	if limit < 1 || limit > 500 {
		return nil, nil, &FieldError{"limit", "must be between 1 and 500"}
	}
	switch f.Status {
	case "", store.JobQueued, store.JobRunning, store.JobSucceeded, store.JobFailed, store.JobCancelled:
	default:
		return nil, nil, &FieldError{"status", "must be queued, running, succeeded, failed or cancelled"}
	}
	if cursor != "" {
		n, err := strconv.ParseInt(cursor, 36, 64)
		if err != nil || n <= 0 {
			return nil, nil, &FieldError{"cursor", "not a cursor this listing gave out"}
		}
		f.BeforeSeq = n
	}
	f.Limit = limit + 1
	rows, err := s.store.ListJobs(ctx, f)
	if err != nil {
		return nil, nil, err
	}
	if len(rows) <= limit {
		return rows, nil, nil
	}
	rows = rows[:limit]
	next := strconv.FormatInt(rows[len(rows)-1].Seq, 36)
	return rows, &next, nil
}

// RecentByCluster returns the newest n jobs of each of an organization's
// clusters, newest first, by cluster id (one query for the whole fleet).
func (s *Service) RecentByCluster(ctx context.Context, org string, n int) (map[string][]Summary, error) {
	rows, err := s.store.RecentJobs(ctx, org, n)
	if err != nil {
		return nil, err
	}
	out := map[string][]Summary{}
	for i := range rows {
		out[rows[i].Cluster] = append(out[rows[i].Cluster], Summary{Job: FromRow(&rows[i])})
	}
	return out, nil
}

// Cancel cancels a queued job, or asks a running one to stop waiting.
// Finished jobs are returned as they are.
func (s *Service) Cancel(ctx context.Context, org, id string) (*Job, error) {
	row, err := s.store.GetJob(ctx, org, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	switch row.Status {
	case store.JobQueued:
		cancelled := *row
		now := s.now()
		cancelled.Status, cancelled.FinishedAt, cancelled.ErrorCode, cancelled.ErrorMessage = store.JobCancelled, &now, string(CancelRequested), "cancelled before it started"
		ok, err := s.store.CancelQueued(ctx, row.Seq, store.Outcome{ErrorCode: cancelled.ErrorCode, ErrorMessage: cancelled.ErrorMessage, At: now,
			CleanupAfter: cleanupAfter(ctx, s.clusters, row, now), RequestCompleted: requestCompleted},
			statusEvent(&cancelled))
		if err != nil {
			return nil, fmt.Errorf("job %q: %w", id, err)
		}
		if ok {
			s.notify()
			return FromRow(&cancelled), nil
		}
		return s.Cancel(ctx, org, id) // it started meanwhile
	case store.JobRunning:
		if err := s.store.RequestCancel(ctx, row.Seq); err != nil {
			return nil, fmt.Errorf("job %q: %w", id, err)
		}
	}
	return s.Get(ctx, org, id)
}

// CancelCluster cancels every job of a cluster that has not finished: the
// cluster was forgotten. Each ends cancelled with its event.
func (s *Service) CancelCluster(ctx context.Context, org, cluster string) error {
	var errs []error
	for _, status := range []store.JobStatus{store.JobQueued, store.JobRunning} {
		rows, err := s.store.ListJobs(ctx, store.JobFilter{Organization: org, Cluster: cluster, Status: status, Limit: 100000})
		if err != nil {
			return err
		}
		for _, r := range rows {
			if _, err := s.Cancel(ctx, org, r.ID); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
