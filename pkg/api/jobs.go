package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/jobs"
	"github.com/vworkspace/pushd/pkg/store"
)

// JobService is what the API needs of the job queue.
type JobService interface {
	Submit(ctx context.Context, org string, spec jobs.Spec) (*jobs.Job, bool, error)
	Get(ctx context.Context, org, id string) (*jobs.Job, error)
	List(ctx context.Context, org string, o jobs.ListOptions) (*jobs.Page, error)
	RecentByCluster(ctx context.Context, org string, n int) (map[string][]jobs.Summary, error)
	Cancel(ctx context.Context, org, id string) (*jobs.Job, error)
	// Request is a request's fleet view; RequestJobs the jobs it shows.
	Request(ctx context.Context, org, requestID string) (*jobs.RequestView, error)
	RequestJobs(ctx context.Context, org, requestID string) ([]*jobs.Job, error)
	CancelRequest(ctx context.Context, org, requestID string) (*jobs.RequestView, error)
	// History is an application's jobs, newest first.
	History(ctx context.Context, org, cluster, namespace, application, cursor string, limit int) (*jobs.History, error)
}

var _ JobService = (*jobs.Service)(nil)

func (s *Server) submitJob(c echo.Context) error {
	var spec jobs.Spec
	if err := decodeJSON(c, &spec); err != nil {
		return err
	}
	note := AuditNote(c)
	note.Cluster, note.Subject = spec.Cluster, spec.ID
	job, created, err := s.Jobs.Submit(c.Request().Context(), organization(c), spec)
	if errors.Is(err, clusters.ErrNotFound) {
		return &Error{Status: http.StatusNotFound, Code: "not_found", Message: "no such cluster",
			Details: []any{map[string]string{"field": "cluster", "value": spec.Cluster}}, Err: err}
	}
	if err != nil {
		return err
	}
	if created {
		setLocation(c, http.StatusAccepted, job.ID)
		return c.JSON(http.StatusAccepted, job)
	}
	return c.JSON(http.StatusOK, job)
}

func (s *Server) getJob(c echo.Context) error {
	j, err := s.Jobs.Get(c.Request().Context(), organization(c), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, j)
}

func (s *Server) listJobs(c echo.Context) error {
	q := c.QueryParams()
	o := jobs.ListOptions{Cluster: q.Get("cluster"), RequestID: q.Get("request_id"), Status: store.JobStatus(q.Get("status")), Cursor: q.Get("cursor")}
	var err error
	if o.Limit, err = limitParam(c); err != nil {
		return err
	}
	p, err := s.Jobs.List(c.Request().Context(), organization(c), o)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, p)
}

// limitParam is a listing's ?limit: 0 when absent (the listing's
// default), else a number from 1 to 500.
func limitParam(c echo.Context) (int, error) {
	l := c.QueryParam("limit")
	if l == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(l)
	if err != nil || n < 1 {
		return 0, &jobs.FieldError{Field: "limit", Message: "must be a number between 1 and 500"}
	}
	return n, nil
}

func (s *Server) cancelJob(c echo.Context) error {
	j, err := s.Jobs.Cancel(c.Request().Context(), organization(c), c.Param("id"))
	if err != nil {
		return err
	}
	AuditNote(c).Cluster = j.Cluster
	if j.Status == store.JobRunning {
		return c.JSON(http.StatusAccepted, j) // it stops waiting shortly
	}
	return c.JSON(http.StatusOK, j)
}

// jobError maps the jobs package's errors to answers.
func jobError(err error) *Error {
	var fe *jobs.FieldError
	var re *jobs.RuleError
	switch {
	case errors.Is(err, jobs.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Code: "not_found", Message: "no such job"}
	case errors.Is(err, jobs.ErrBackpressure):
		return &Error{Status: http.StatusTooManyRequests, Code: "backpressure", Message: err.Error() + "; retry later"}
	case errors.Is(err, jobs.ErrConflict):
		return &Error{Status: http.StatusConflict, Code: "job_id_reused", Message: err.Error()}
	case errors.As(err, &fe):
		return &Error{Status: http.StatusBadRequest, Code: "invalid_field", Message: fe.Error(), Details: []any{map[string]string{"field": fe.Field}}}
	case errors.As(err, &re):
		return &Error{Status: http.StatusUnprocessableEntity, Code: string(re.Code), Message: re.Message, Details: refusalDetails(re)}
	}
	return nil
}

// refusalDetails lists a refusal and the job's others, one entry per object
// and rule: where (field), which rule, which object (apiVersion, kind,
// name) and the offending value when it is a short name. Never an object's
// content, nor the rule's message (the first one's is the answer's). A list
// cut at jobs.MaxRefusals ends with an entry counting the rest.
func refusalDetails(first *jobs.RuleError) []any {
	all := first.All()
	out := make([]any, 0, len(all)+1)
	for _, re := range all {
		d := map[string]any{"field": re.Field, "rule": string(re.Code)}
		for k, v := range map[string]string{"value": re.Value, "api_version": re.APIVersion, "kind": re.Kind, "name": re.Name} {
			if v != "" {
				d[k] = v
			}
		}
		out = append(out, d)
	}
	if first.Omitted > 0 {
		out = append(out, map[string]any{"field": "manifests", "reason": "more_refusals", "omitted": first.Omitted,
			"message": fmt.Sprintf("%d more refusals are not listed", first.Omitted)})
	}
	return out
}
