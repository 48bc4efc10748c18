package ui

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/vworkspace/pushd/pkg/api"
)

// auditPerPage is how many audit entries one page shows.
const auditPerPage = 100

// auditFilters are the audit page's filters, as the query string gives them.
type auditFilters struct {
	Since, Until, Cluster, Action string
}

type auditPage struct {
	Filters auditFilters
	Actions []string
	Items   []auditRow
	// More is the link to the next page; empty on the last.
	More string
}

type auditRow struct {
	At, Actor, Action, Cluster, ClusterUID, Subject, Outcome string
	Status                                                   int
	OK                                                       bool
}

// audit lists the organization's audit log, oldest first, filtered, a page
// at a time: the same entries and filters as GET /api/v1/audit.
func (u *server) audit(c echo.Context) error {
	q := c.QueryParams()
	f, err := api.ParseAuditFilter(c)
	if err != nil {
		return err
	}
	f.After, _ = strconv.ParseInt(q.Get("after"), 10, 64)
	f.Limit = auditPerPage + 1
	var entries []AuditEntry
	if u.Audit != nil {
		q := AuditQuery{Since: f.Since, Until: f.Until, Cluster: f.Cluster, Action: f.Action, After: f.After, Limit: f.Limit}
		if entries, err = u.Audit.AuditEntries(c.Request().Context(), organization(c), q); err != nil {
			return err
		}
	}
	page := auditPage{Filters: auditFilters{Since: q.Get("since"), Until: q.Get("until"), Cluster: q.Get("cluster"), Action: q.Get("action")}}
	for _, a := range api.AuditActions {
		page.Actions = append(page.Actions, string(a))
	}
	if len(entries) > auditPerPage {
		entries = entries[:auditPerPage]
		next := url.Values{}
		for k, v := range map[string]string{"since": page.Filters.Since, "until": page.Filters.Until, "cluster": f.Cluster, "action": string(f.Action)} {
			if v != "" {
				next.Set(k, v)
			}
		}
		next.Set("after", strconv.FormatInt(entries[len(entries)-1].Seq, 10))
		page.More = "/ui/audit?" + next.Encode()
	}
	for i := range entries {
		e := &entries[i]
		page.Items = append(page.Items, auditRow{
			At: showTime(&e.At), Actor: e.ActorKind + " " + e.ActorID, Action: string(e.Action),
			Cluster: e.Cluster, ClusterUID: e.ClusterUID, Subject: e.Subject, Outcome: e.Outcome, Status: e.Status, OK: e.Outcome == api.AuditOK,
		})
	}
	return u.render(c, http.StatusOK, "audit", page)
}
