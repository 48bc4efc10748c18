package ui

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/vworkspace/pushd/pkg/api"
	"github.com/vworkspace/pushd/pkg/jobs"
)

// The UI's actions. Each is a POST behind the session and its anti-forgery
// token (requireCSRF), does what the API's signed endpoint of the same name
// does for the session's organization, is logged with who and what, and
// answers with a redirect to the page it came from (post/redirect/get),
// which shows a notice naming what was done.

// notices are the texts an action's redirect may ask for (?done=…):
// fixed texts, so the query string cannot put words in pushd's mouth.
var notices = map[string]string{
	"drift-check":       "Drift check requested: the page updates when it has run.",
	"cancel":            "Cancel requested: a queued job is cancelled now, a running one stops waiting shortly.",
	"cancel-request":    "Cancel requested for every queued or running job of this request.",
	"resend":            "The callback is queued for delivery again.",
	"nothing-to-cancel": "Nothing to cancel: every job of this request has finished.",
}

// logAction logs an action of the session's organization.
func (u *server) logAction(c echo.Context, action string, attrs ...any) {
	u.log.Info("ui action", append([]any{"action", action, "organization", organization(c), "remote", c.Request().RemoteAddr}, attrs...)...)
}

// back redirects to the form's "back" page when it is a UI path, else to fallback.
func back(c echo.Context, fallback, done string) error {
	to := fallback
	if b := c.FormValue("back"); strings.HasPrefix(b, "/ui/") && !strings.HasPrefix(b, "//") && !strings.Contains(b, "\\") {
		to = b
	}
	if i := strings.IndexByte(to, '?'); i >= 0 {
		to = to[:i]
	}
	return c.Redirect(http.StatusSeeOther, to+"?done="+url.QueryEscape(done))
}

func (u *server) driftCheck(c echo.Context) error {
	ctx, org, id := c.Request().Context(), organization(c), c.Param("id")
	if u.Inventory == nil {
		return echo.ErrNotFound
	}
	if _, err := u.Clusters.Get(ctx, org, id); err != nil {
		return err
	}
	if _, err := u.Inventory.RequestDriftCheck(ctx, id); err != nil {
		return err
	}
	u.logAction(c, "drift-check", "cluster", id)
	return back(c, "/ui/clusters/"+url.PathEscape(id), "drift-check")
}

func (u *server) cancelJob(c echo.Context) error {
	ctx, org, id := c.Request().Context(), organization(c), c.Param("id")
	j, err := u.Jobs.Cancel(ctx, org, id)
	if err != nil {
		return err
	}
	api.AuditNote(c).Cluster = j.Cluster
	u.logAction(c, "cancel-job", "job", id, "cluster", j.Cluster, "status", j.Status)
	return back(c, "/ui/jobs/"+url.PathEscape(id), "cancel")
}

// cancelRequest cancels every job of a request that has not finished, as
// POST /requests/{id}/cancel does.
func (u *server) cancelRequest(c echo.Context) error {
	ctx, org, rid := c.Request().Context(), organization(c), c.Param("request_id")
	v, err := u.Jobs.Request(ctx, org, rid)
	if err != nil {
		return err
	}
	open := v.Counts[jobs.Queued] + v.Counts[jobs.Running]
	_, err = u.Jobs.CancelRequest(ctx, org, rid)
	u.logAction(c, "cancel-request", "request", rid, "jobs", open)
	if err != nil {
		return err
	}
	done := "cancel-request"
	if open == 0 {
		done = "nothing-to-cancel"
	}
	return back(c, "/ui/requests/"+url.PathEscape(rid), done)
}

func (u *server) resendCallback(c echo.Context) error {
	ctx, org, id := c.Request().Context(), organization(c), c.Param("id")
	if u.Callbacks == nil {
		return echo.ErrNotFound
	}
	e, err := u.Callbacks.Resend(ctx, org, id)
	if errors.Is(err, ErrNotParked) {
		return &api.Error{Status: http.StatusNotFound, Code: "not_found", Message: "no such parked callback"}
	}
	if err != nil {
		return err
	}
	api.AuditNote(c).Cluster = e.Cluster
	u.logAction(c, "resend-callback", "event", id, "type", e.Type, "cluster", e.Cluster)
	return back(c, "/ui/callbacks", "resend")
}
