package api

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/vworkspace/pushd/pkg/jobs"
	"github.com/vworkspace/pushd/pkg/store"
)

// The fleet view of one request (GET /requests/{id}, the UI's request
// page) and its cancellation.

// requestView is a request's fleet view: one entry per job — each
// (cluster, namespace, application) the request has a job for, with its
// newest such job — and counts of those jobs by status.
type requestView struct {
	RequestID string                  `json:"request_id"`
	Total     int                     `json:"total"`
	Counts    map[store.JobStatus]int `json:"counts"`
	Jobs      []requestJob            `json:"jobs"`
}

// requestJob is one job of a request.
type requestJob struct {
	ID          string          `json:"id"`
	Cluster     string          `json:"cluster"`
	Namespace   string          `json:"namespace"`
	Application string          `json:"application"`
	Status      store.JobStatus `json:"status"`
	Error       *jobs.Error     `json:"error"`
}

// requestJobs are the jobs a request's view shows (store.RequestJobs),
// rendered as the API renders jobs, without their objects; jobs.ErrNotFound
// when the organization has no job with the request id.
func (s *Server) requestJobs(ctx context.Context, org, requestID string) ([]*jobs.Job, error) {
	rows, err := s.Store.RequestJobs(ctx, org, requestID)
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, jobs.ErrNotFound
	}
	out := make([]*jobs.Job, len(rows))
	for i := range rows {
		out[i] = jobs.FromRow(&rows[i])
	}
	return out, nil
}

// newRequestView counts a request's jobs; every status has a count.
func newRequestView(requestID string, js []*jobs.Job) *requestView {
	v := &requestView{RequestID: requestID, Total: len(js), Jobs: make([]requestJob, 0, len(js)), Counts: map[store.JobStatus]int{
		store.JobQueued: 0, store.JobRunning: 0, store.JobSucceeded: 0, store.JobFailed: 0, store.JobCancelled: 0,
	}}
	for _, j := range js {
		v.Counts[j.Status]++
		v.Jobs = append(v.Jobs, requestJob{ID: j.ID, Cluster: j.Cluster, Namespace: j.Namespace, Application: j.Application, Status: j.Status, Error: j.Error})
	}
	return v
}

func (s *Server) getRequest(c echo.Context) error {
	ctx, rid := c.Request().Context(), c.Param("request_id")
	js, err := s.requestJobs(ctx, organization(c), rid)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, newRequestView(rid, js))
}

// cancelRequest cancels every unfinished job of a request in one call: 200
// when all of the view's jobs are final now, 202 when some were running and
// are stopping.
func (s *Server) cancelRequest(c echo.Context) error {
	ctx, org, rid := c.Request().Context(), organization(c), c.Param("request_id")
	if _, err := s.Jobs.CancelRequest(ctx, org, rid); err != nil {
		return err
	}
	js, err := s.requestJobs(ctx, org, rid)
	if err != nil {
		return err
	}
	v := newRequestView(rid, js)
	if v.Counts[store.JobRunning] > 0 {
		return c.JSON(http.StatusAccepted, v)
	}
	return c.JSON(http.StatusOK, v)
}
