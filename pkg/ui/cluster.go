package ui

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/robfig/cron/v3"

	"github.com/vworkspace/pushd/pkg/observe"
)

// The cluster page: its record, what pushd observes of it, its
// applications, recent jobs and events.

type clusterPage struct {
	Row                                    clusterRow
	Mode                                   string
	AllowedNamespaces, AllowedApplications []string
	Operations                             []string // "engine/type"
	DriftSchedule, DriftMode               string
	UpdatedAt                              string
	ServerVersion                          string
	RenewedAt                              string
	ExcessRights                           []string
	Namespaces                             []namespaceRow
	// KnownAt is when the version and namespaces shown were observed, when
	// they are the last known values of a cluster that is not ready now.
	KnownAt string
	// NextDriftCheck is when the drift schedule runs next; LastChecked the
	// newest check of any of its applications.
	NextDriftCheck, LastChecked string
	Applications                *applicationsSection // nil without an inventory
	Jobs                        []jobRow
	Events                      []eventRow
}

type eventRow struct {
	Type, Time, Summary string
}

// cluster is one cluster: its record, what pushd observes, its recent jobs and events.
func (u *server) cluster(c echo.Context) error {
	ctx, org := c.Request().Context(), organization(c)
	rec, err := u.Clusters.Get(ctx, org, c.Param("id"))
	if err != nil {
		return err
	}
	st, err := u.Health.Observed(ctx, rec.ID)
	if err != nil {
		return err
	}
	knownAt := u.known.fill(rec.ID, &st)
	recent, err := u.recentJobs(ctx, org, rec.ID, clusterJobs)
	if err != nil {
		return err
	}
	var events []Event
	if u.Events != nil {
		if events, err = u.Events.Events(ctx, rec.ID, clusterEvents); err != nil {
			return err
		}
	}
	page := clusterPage{
		Row: newClusterRow(rec, st, recent), Mode: rec.Connectivity,
		AllowedNamespaces: rec.AllowedNamespaces, AllowedApplications: rec.AllowedApplications,
		DriftSchedule: rec.Drift.Schedule, DriftMode: rec.Drift.Mode, UpdatedAt: showTime(&rec.UpdatedAt),
		ServerVersion: st.ServerVersion, ExcessRights: st.Credential.ExcessRights,
		Applications: u.applications(ctx, rec.ID), NextDriftCheck: nextRun(rec.Drift.Schedule, time.Now()),
	}
	var unreadable []observe.NamespaceError
	if page.Applications != nil {
		unreadable = page.Applications.Unreadable
	}
	page.Namespaces = newNamespaceRows(st.Namespaces, unreadable)
	if knownAt != nil {
		page.KnownAt = showTime(knownAt)
	}
	if page.Applications != nil {
		var last *time.Time
		for _, a := range page.Applications.Items {
			if a.checkedAt != nil && (last == nil || a.checkedAt.After(*last)) {
				last = a.checkedAt
			}
		}
		page.LastChecked = showTime(last)
	}
	if st.Credential.RenewedAt != nil {
		page.RenewedAt = showTime(st.Credential.RenewedAt)
	}
	for _, op := range rec.AllowedOperations {
		page.Operations = append(page.Operations, op.Engine+"/"+op.Type)
	}
	for _, j := range recent {
		page.Jobs = append(page.Jobs, newJobRow(j.Job))
	}
	for _, e := range events {
		// Cluster ids are reused after a delete: the events of a former
		// owner of this id are not this organization's to see.
		if e.Organization != org {
			continue
		}
		page.Events = append(page.Events, eventRow{Type: e.Type, Time: showTime(&e.CreatedAt), Summary: eventSummary(e.Type, e.Data)})
	}
	return u.render(c, http.StatusOK, "cluster", page)
}

// nextRun is when a cron schedule next runs; "" when it is off or invalid.
func nextRun(schedule string, now time.Time) string {
	if schedule == "" {
		return ""
	}
	sch, err := cron.ParseStandard(schedule)
	if err != nil {
		return ""
	}
	next := sch.Next(now)
	return showTime(&next)
}
