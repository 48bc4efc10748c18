package ui

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/vworkspace/pushd/pkg/jobs"
)

// The request page: every job of one request and how it ended.

type requestPage struct {
	ID     string
	Total  int
	Counts []statusCount
	Jobs   []jobRow
	// Open is whether any job is still queued or running (cancel is offered).
	Open bool
}

// request is one request: each of its jobs (one per cluster and
// application, as GET /requests/{id} lists them) and how it ended.
func (u *server) request(c echo.Context) error {
	ctx, org, rid := c.Request().Context(), organization(c), c.Param("request_id")
	js, err := u.Jobs.RequestJobs(ctx, org, rid)
	if err != nil {
		return err
	}
	v := jobs.NewRequestView(rid, js)
	page := requestPage{ID: v.RequestID, Total: v.Total}
	for _, s := range jobs.Statuses {
		if n := v.Counts[s]; n > 0 {
			page.Counts = append(page.Counts, statusCount{Status: string(s), Count: n})
		}
	}
	for _, j := range js {
		page.Jobs = append(page.Jobs, newJobRow(j))
		page.Open = page.Open || j.Status == jobs.Queued || j.Status == jobs.Running
	}
	return u.render(c, http.StatusOK, "request", page)
}
