package ui

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/vworkspace/pushd/pkg/jobs"
)

// The fleet-wide jobs list.

// jobsPerPage is how many jobs one page of the jobs list shows unless
// ?limit= (1–500) asks for another number.
const jobsPerPage = 50

// jobFilters are the jobs list's filters, as the query string gives them.
type jobFilters struct {
	Cluster, Application, Status, Request, Trigger string
}

type jobsPage struct {
	Filters  jobFilters
	Statuses []string
	Jobs     []jobRow
	// More is the link to the next page; empty on the last.
	More string
}

// jobs lists the organization's jobs, newest first, filtered, a page at a time.
func (u *server) jobs(c echo.Context) error {
	ctx, org, q := c.Request().Context(), organization(c), c.QueryParams()
	f := jobFilters{Cluster: q.Get("cluster"), Application: q.Get("application"), Status: q.Get("status"), Request: q.Get("request"), Trigger: q.Get("trigger")}
	limit := pageSize(c, jobsPerPage)
	p, err := u.Jobs.List(ctx, org, jobs.ListOptions{
		Cluster: f.Cluster, Application: f.Application, Status: jobs.Status(f.Status), RequestID: f.Request, Trigger: f.Trigger,
		Limit: limit, Cursor: q.Get("cursor"),
	})
	if err != nil {
		return err
	}
	page := jobsPage{Filters: f}
	for _, s := range jobs.Statuses {
		page.Statuses = append(page.Statuses, string(s))
	}
	for _, j := range p.Items {
		page.Jobs = append(page.Jobs, newJobRow(j.Job))
	}
	if p.NextCursor != nil {
		next := url.Values{}
		for k, v := range map[string]string{"cluster": f.Cluster, "application": f.Application, "status": f.Status, "request": f.Request, "trigger": f.Trigger, "cursor": *p.NextCursor} {
			if v != "" {
				next.Set(k, v)
			}
		}
		if limit != jobsPerPage {
			next.Set("limit", strconv.Itoa(limit))
		}
		page.More = "/ui/jobs?" + next.Encode()
	}
	return u.render(c, http.StatusOK, "jobs", page)
}
