package ui

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/vworkspace/pushd/pkg/jobs"
	"github.com/vworkspace/pushd/pkg/store"
)

// The fleet-wide jobs list and the request page.

// uiJobsPage is how many jobs one page of the jobs list shows unless
// ?limit= (1–500) asks for another number.
const uiJobsPage = 50

// uiJobFilters are the jobs list's filters, as the query string gives them.
type uiJobFilters struct {
	Cluster, Application, Status, Request, Trigger string
}

type uiJobs struct {
	Filters  uiJobFilters
	Statuses []string
	Jobs     []uiJobRow
	// More is the link to the next page; empty on the last.
	More string
}

// jobs lists the organization's jobs, newest first, filtered, a page at a time.
func (u *ui) jobs(c echo.Context) error {
	ctx, org, q := c.Request().Context(), organization(c), c.QueryParams()
	f := uiJobFilters{Cluster: q.Get("cluster"), Application: q.Get("application"), Status: q.Get("status"), Request: q.Get("request"), Trigger: q.Get("trigger")}
	limit := uiLimit(c, uiJobsPage)
	p, err := u.Jobs.List(ctx, org, jobs.ListOptions{
		Cluster: f.Cluster, Application: f.Application, Status: store.JobStatus(f.Status), RequestID: f.Request, Trigger: f.Trigger,
		Limit: limit, Cursor: q.Get("cursor"),
	})
	if err != nil {
		return err
	}
	page := uiJobs{Filters: f}
	for _, s := range uiJobStatuses {
		page.Statuses = append(page.Statuses, string(s))
	}
	for _, j := range p.Items {
		page.Jobs = append(page.Jobs, newUIJobRow(j.Job))
	}
	if p.NextCursor != nil {
		next := url.Values{}
		for k, v := range map[string]string{"cluster": f.Cluster, "application": f.Application, "status": f.Status, "request": f.Request, "trigger": f.Trigger, "cursor": *p.NextCursor} {
			if v != "" {
				next.Set(k, v)
			}
		}
		if limit != uiJobsPage {
			next.Set("limit", strconv.Itoa(limit))
		}
		page.More = "/ui/jobs?" + next.Encode()
	}
	return u.render(c, http.StatusOK, "jobs", page)
}

type uiRequest struct {
	ID     string
	Total  int
	Counts []uiCount
	Jobs   []uiJobRow
	// Open is whether any job is still queued or running (cancel is offered).
	Open bool
}

// request is one request: each of its jobs (one per cluster and
// application, as GET /requests/{id} lists them) and how it ended.
func (u *ui) request(c echo.Context) error {
	ctx, org, rid := c.Request().Context(), organization(c), c.Param("request_id")
	js, err := u.Jobs.RequestJobs(ctx, org, rid)
	if err != nil {
		return err
	}
	v := jobs.NewRequestView(rid, js)
	page := uiRequest{ID: v.RequestID, Total: v.Total}
	for _, s := range uiJobStatuses {
		if n := v.Counts[s]; n > 0 {
			page.Counts = append(page.Counts, uiCount{Status: string(s), Count: n})
		}
	}
	for _, j := range js {
		page.Jobs = append(page.Jobs, newUIJobRow(j))
		page.Open = page.Open || j.Status == store.JobQueued || j.Status == store.JobRunning
	}
	return u.render(c, http.StatusOK, "request", page)
}

// uiLimit is a listing's page size: ?limit= when it is 1–500, else def.
func uiLimit(c echo.Context, def int) int {
	if n, err := strconv.Atoi(c.QueryParam("limit")); err == nil && n >= 1 && n <= 500 {
		return n
	}
	return def
}

// uiDuration is how long a job ran (or has been running), for people.
func uiDuration(start, end *time.Time, now time.Time) string {
	if start == nil {
		return ""
	}
	to := now
	if end != nil {
		to = *end
	}
	d := to.Sub(*start)
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}
