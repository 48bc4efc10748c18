package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/vworkspace/pushd/pkg/store"
)

// A request's fleet view (GET /requests/{id}, the UI's request page) and
// its cancellation.

// RequestView is a request's fleet view: one entry per job — each
// (cluster, namespace, application) the request has a job for, with its
// newest such job — and counts of those jobs by status.
type RequestView struct {
	RequestID string                  `json:"request_id"`
	Total     int                     `json:"total"`
	Counts    map[store.JobStatus]int `json:"counts"`
	// Completed: every job of the request is terminal (and
	// request.completed was, or is being, sent).
	Completed bool         `json:"completed"`
	Jobs      []RequestJob `json:"jobs"`
}

// RequestJob is one job of a request.
type RequestJob struct {
	ID          string          `json:"id"`
	Cluster     string          `json:"cluster"`
	Namespace   string          `json:"namespace"`
	Application string          `json:"application"`
	Action      string          `json:"action"`
	Status      store.JobStatus `json:"status"`
	Error       *Error          `json:"error"`
	// Outputs are an operate job's outputs (Result.Outputs); nil for other
	// jobs and before the operation was observed.
	Outputs map[string]any `json:"outputs"`
}

// EventRequestCompleted is sent once per request, when its last job ends:
// the request's view (RequestView) as it is then.
const EventRequestCompleted = "request.completed"

// requestCompleted is the request.completed event of a request whose jobs
// have all ended (store.Outcome.RequestCompleted).
func requestCompleted(rows []store.Job) *store.Event {
	if len(rows) == 0 {
		return nil
	}
	js := make([]*Job, len(rows))
	for i := range rows {
		js[i] = FromRow(&rows[i])
	}
	v := NewRequestView(rows[0].RequestID, js)
	data, _ := json.Marshal(v)
	return &store.Event{ID: "evt_" + uuid.NewString(), Type: EventRequestCompleted, Organization: rows[0].Organization, Data: string(data)}
}

// RequestJobs are the jobs a request's view shows (store.RequestJobs:
// ordered by cluster, namespace and application), without their objects;
// ErrNotFound when the organization has no job with the request id.
func (s *Service) RequestJobs(ctx context.Context, org, requestID string) ([]*Job, error) {
	rows, err := s.store.RequestJobs(ctx, org, requestID)
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, ErrNotFound
	}
	out := make([]*Job, len(rows))
	for i := range rows {
		out[i] = FromRow(&rows[i])
	}
	return out, nil
}

// NewRequestView is the view of a request's jobs (RequestJobs); every
// status has a count.
func NewRequestView(requestID string, js []*Job) *RequestView {
	v := &RequestView{RequestID: requestID, Total: len(js), Jobs: make([]RequestJob, 0, len(js)), Counts: map[store.JobStatus]int{
		store.JobQueued: 0, store.JobRunning: 0, store.JobSucceeded: 0, store.JobFailed: 0, store.JobCancelled: 0,
	}}
	for _, j := range js {
		v.Counts[j.Status]++
		rj := RequestJob{ID: j.ID, Cluster: j.Cluster, Namespace: j.Namespace, Application: j.Application, Action: j.Action, Status: j.Status, Error: j.Error}
		if j.Result != nil {
			rj.Outputs = j.Result.Outputs
		}
		v.Jobs = append(v.Jobs, rj)
	}
	v.Completed = v.Counts[store.JobQueued]+v.Counts[store.JobRunning] == 0
	return v
}

// Request returns the fleet view of one request_id; ErrNotFound when the
// organization has no job with it.
func (s *Service) Request(ctx context.Context, org, requestID string) (*RequestView, error) {
	js, err := s.RequestJobs(ctx, org, requestID)
	if err != nil {
		return nil, err
	}
	return NewRequestView(requestID, js), nil
}

// CancelRequest cancels every job of a request that has not finished — a
// job a resubmission superseded in the view too, since it may still
// write — as Cancel does each, and returns the view as it is then: a job
// that was running is still running, stopping.
func (s *Service) CancelRequest(ctx context.Context, org, requestID string) (*RequestView, error) {
	if requestID == "" {
		return nil, ErrNotFound // jobs without a request are no request
	}
	var errs []error
	for _, status := range []store.JobStatus{store.JobQueued, store.JobRunning} {
		rows, err := s.store.ListJobs(ctx, store.JobFilter{Organization: org, RequestID: requestID, Status: status, Limit: 100000})
		if err != nil {
			return nil, err
		}
		for _, j := range rows {
			if _, err := s.Cancel(ctx, org, j.ID); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("request %q: %w", requestID, err)
	}
	return s.Request(ctx, org, requestID)
}
