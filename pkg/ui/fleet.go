package ui

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/robfig/cron/v3"

	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/jobs"
	"github.com/vworkspace/pushd/pkg/observe"
	"github.com/vworkspace/pushd/pkg/store"
)

// What the UI pages show of each cluster's history.
const (
	// uiJobWindow is how many of a cluster's newest jobs the fleet counts.
	uiJobWindow = 100
	// uiClusterJobs and uiClusterEvents are the cluster page's table lengths.
	uiClusterJobs   = 25
	uiClusterEvents = 25
	// uiSummaryRunes bounds an event's one-line summary.
	uiSummaryRunes = 200
	// uiFleetPage is how many clusters one page of the fleet shows.
	uiFleetPage = 50
	// uiParkedCounted bounds the fleet's count of parked callbacks (one query).
	uiParkedCounted = 500
	// uiExpiringWithin is when a credential's expiry needs attention.
	uiExpiringWithin = 24 * time.Hour
)

// uiJobStatuses orders job counts the same way everywhere.
var uiJobStatuses = []store.JobStatus{store.JobQueued, store.JobRunning, store.JobSucceeded, store.JobFailed, store.JobCancelled}

// uiClusterRow is one cluster as the fleet table and the cluster page's
// header show it. It holds what pushd observed, never the credential: only
// its subject and expiry.
type uiClusterRow struct {
	ID, DisplayName string
	Labels          []string // "key=value", sorted
	State, Message  string
	// Reason is why the cluster is not ready, in a sentence; empty when ready.
	Reason string
	// OverPrivileged: the credential has rights beyond what pushd needs.
	OverPrivileged bool
	// Expiring: the credential expires within uiExpiringWithin.
	Expiring        bool
	CheckedAt       string
	Breaker         string
	RetryAt         string
	Subject, Expiry string
	ExcessRights    int
	Namespaces      uiNamespaceSummary
	Jobs            []uiCount
	// Applications is nil when pushd runs without an inventory.
	Applications *uiAppCounts
}

type uiNamespaceSummary struct {
	// Allowed is the record's; the others count what the last probe observed.
	Allowed, Observed, Exists, Labeled, RightsOK int
	// Excess counts namespaces where the credential has more than pushd needs.
	Excess int
	// OK is every allowed namespace observed existing, labeled, with exactly the rights pushd needs.
	OK bool
}

type uiCount struct {
	Status string
	Count  int
}

func newUIClusterRow(rec *clusters.Record, st clusters.Status, recent []jobs.Summary) uiClusterRow {
	r := uiClusterRow{
		ID: rec.ID, DisplayName: rec.DisplayName,
		State: string(st.Connectivity.State), Message: st.Connectivity.Message,
		CheckedAt: uiTime(st.Connectivity.CheckedAt), Breaker: st.Connectivity.Breaker,
		Subject: st.Credential.Subject, ExcessRights: len(st.Credential.ExcessRights),
		Reason: uiReason(st.Connectivity),
	}
	for _, k := range slices.Sorted(maps.Keys(rec.Labels)) {
		r.Labels = append(r.Labels, k+"="+rec.Labels[k])
	}
	if st.Connectivity.RetryAt != nil {
		r.RetryAt = uiTime(st.Connectivity.RetryAt)
	}
	if st.Credential.Expiry != nil {
		r.Expiry = uiTime(st.Credential.Expiry)
	}
	ns := &r.Namespaces
	ns.Allowed = len(rec.AllowedNamespaces)
	for _, n := range st.Namespaces {
		ns.Observed++
		ns.Exists += b2i(n.Exists)
		ns.Labeled += b2i(n.Labeled)
		ns.RightsOK += b2i(n.RightsOK)
		ns.Excess += b2i(len(n.ExcessRights) > 0)
	}
	r.OverPrivileged = uiOverPrivileged(st, ns.Excess)
	r.Expiring = st.Credential.Expiry != nil && time.Until(*st.Credential.Expiry) < uiExpiringWithin
	ns.OK = ns.Observed == ns.Allowed && ns.Exists == ns.Allowed && ns.Labeled == ns.Allowed && ns.RightsOK == ns.Allowed && ns.Excess == 0
	counts := map[store.JobStatus]int{}
	for _, j := range recent {
		counts[j.Status]++
	}
	for _, s := range uiJobStatuses {
		if counts[s] > 0 {
			r.Jobs = append(r.Jobs, uiCount{Status: string(s), Count: counts[s]})
		}
	}
	return r
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// uiTime is how every page shows a time.
func uiTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func (u *ui) recentJobs(ctx context.Context, org, cluster string, limit int) ([]jobs.Summary, error) {
	p, err := u.Jobs.List(ctx, org, jobs.ListOptions{Cluster: cluster, Limit: limit})
	if err != nil {
		return nil, err
	}
	return p.Items, nil
}

type uiFleet struct {
	Summary   uiSummary
	Clusters  []uiClusterRow
	JobWindow int
	// Inventory shows the applications column.
	Inventory bool
	// More is the link to the next page; empty on the last.
	More string
}

// uiSummary is the fleet's attention bar: what needs a person, counted
// over every cluster of the organization (not only this page's).
type uiSummary struct {
	Clusters, NotReady, OverPrivileged, Drifted, FailedJobs, Expiring int
	// FailedApps counts applications whose health is Failed; -1 when unknown.
	FailedApps int
	// Parked is the number of parked callbacks (up to uiParkedCounted);
	// -1 when callbacks are off.
	Parked int
}

// uiSummaryItem is one entry of the attention bar.
type uiSummaryItem struct {
	Count int
	Text  string // what is counted, after the number, in the number's grammar
	Link  string // where the counted things are listed; may be empty
	Bad   bool
}

// Items are the bar's entries; counts pushd cannot know (-1) are left out.
func (s uiSummary) Items() []uiSummaryItem {
	item := func(n int, one, many, link string) uiSummaryItem {
		text := many
		if n == 1 {
			text = one
		}
		return uiSummaryItem{Count: n, Text: text, Link: link, Bad: n > 0}
	}
	out := []uiSummaryItem{
		item(s.NotReady, fmt.Sprintf("of %d not ready", s.Clusters), fmt.Sprintf("of %d not ready", s.Clusters), ""),
		item(s.OverPrivileged, "over-privileged", "over-privileged", ""),
		item(s.Drifted, "application drifted", "applications drifted", ""),
	}
	if s.FailedApps >= 0 {
		out = append(out, item(s.FailedApps, "application failed", "applications failed", ""))
	}
	out = append(out,
		item(s.FailedJobs, "failed job", "failed jobs", "/ui/jobs?status=failed"),
		item(s.Expiring, "credential expiring within a day", "credentials expiring within a day", ""))
	if s.Parked >= 0 {
		out = append(out, item(s.Parked, "parked callback", "parked callbacks", "/ui/callbacks"))
	}
	return out
}

// fleet is every cluster of the session's organization, a page at a time,
// under a summary of what needs attention.
func (u *ui) fleet(c echo.Context) error {
	ctx, org := c.Request().Context(), organization(c)
	recs, err := u.Clusters.List(ctx, org)
	if err != nil {
		return err
	}
	slices.SortFunc(recs, func(a, b *clusters.Record) int { return strings.Compare(a.ID, b.ID) })
	all, err := u.Health.ObservedAll(ctx)
	if err != nil {
		return err
	}
	page := uiFleet{JobWindow: uiJobWindow, Inventory: u.Inventory != nil, Summary: uiSummary{Clusters: len(recs), Parked: -1, FailedApps: -1}}
	recentAll, err := u.Jobs.RecentByCluster(ctx, org, uiJobWindow)
	if err != nil {
		return err
	}
	after, limit := c.QueryParam("after"), uiLimit(c, uiFleetPage)
	for _, rec := range recs {
		recent := recentAll[rec.ID]
		row := newUIClusterRow(rec, all[rec.ID], recent)
		row.Applications = u.appCounts(rec.ID)
		sum := &page.Summary
		sum.NotReady += b2i(row.State != string(clusters.StateReady))
		sum.OverPrivileged += b2i(row.OverPrivileged)
		sum.Expiring += b2i(row.Expiring)
		for _, j := range recent {
			sum.FailedJobs += b2i(j.Status == store.JobFailed)
		}
		if row.Applications != nil {
			sum.Drifted += row.Applications.Drifted
			sum.FailedApps = max(sum.FailedApps, 0) + u.Inventory.FailedCount(rec.ID)
		}
		if rec.ID <= after {
			continue
		}
		if len(page.Clusters) == limit {
			more := url.Values{"after": {page.Clusters[len(page.Clusters)-1].ID}}
			if limit != uiFleetPage {
				more.Set("limit", strconv.Itoa(limit))
			}
			page.More = "/ui/?" + more.Encode()
			continue
		}
		page.Clusters = append(page.Clusters, row)
	}
	if u.Callbacks != nil {
		parked, err := u.Callbacks.Parked(ctx, org, 0, uiParkedCounted)
		if err != nil {
			return err
		}
		page.Summary.Parked = len(parked)
	}
	return u.render(c, http.StatusOK, "fleet", page)
}

type uiCluster struct {
	Row                                    uiClusterRow
	Mode                                   string
	AllowedNamespaces, AllowedApplications []string
	Operations                             []string // "engine/type"
	DriftSchedule, DriftMode               string
	UpdatedAt                              string
	ServerVersion                          string
	RenewedAt                              string
	ExcessRights                           []string
	Namespaces                             []uiNamespace
	// KnownAt is when the version and namespaces shown were observed, when
	// they are the last known values of a cluster that is not ready now.
	KnownAt string
	// NextDriftCheck is when the drift schedule runs next; LastChecked the
	// newest check of any of its applications.
	NextDriftCheck, LastChecked string
	Applications                *uiApplications // nil without an inventory
	Jobs                        []uiJobRow
	Events                      []uiEvent
}

type uiJobRow struct {
	ID, Cluster, Application, Namespace, Action, Status, Error string
	Trigger, RequestID, Duration                               string
	Created, Started, Finished                                 string
	// Reference marks the job drift is measured against (application page).
	Reference bool
	// Waiting is why a queued job waits; empty when it does not.
	Waiting string
}

type uiEvent struct {
	Type, Time, Summary string
}

// cluster is one cluster: its record, what pushd observes, its recent jobs and events.
func (u *ui) cluster(c echo.Context) error {
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
	recent, err := u.recentJobs(ctx, org, rec.ID, uiClusterJobs)
	if err != nil {
		return err
	}
	var events []store.Event
	if u.Events != nil {
		if events, err = u.Events.Events(ctx, rec.ID, uiClusterEvents); err != nil {
			return err
		}
	}
	page := uiCluster{
		Row: newUIClusterRow(rec, st, recent), Mode: rec.Connectivity,
		AllowedNamespaces: rec.AllowedNamespaces, AllowedApplications: rec.AllowedApplications,
		DriftSchedule: rec.Drift.Schedule, DriftMode: rec.Drift.Mode, UpdatedAt: uiTime(&rec.UpdatedAt),
		ServerVersion: st.ServerVersion, ExcessRights: st.Credential.ExcessRights,
		Applications: u.applications(ctx, rec.ID), NextDriftCheck: uiNextRun(rec.Drift.Schedule, time.Now()),
	}
	var unreadable []observe.NamespaceError
	if page.Applications != nil {
		unreadable = page.Applications.Unreadable
	}
	page.Namespaces = newUINamespaces(st.Namespaces, unreadable)
	if knownAt != nil {
		page.KnownAt = uiTime(knownAt)
	}
	if page.Applications != nil {
		var last *time.Time
		for _, a := range page.Applications.Items {
			if a.checkedAt != nil && (last == nil || a.checkedAt.After(*last)) {
				last = a.checkedAt
			}
		}
		page.LastChecked = uiTime(last)
	}
	if st.Credential.RenewedAt != nil {
		page.RenewedAt = uiTime(st.Credential.RenewedAt)
	}
	for _, op := range rec.AllowedOperations {
		page.Operations = append(page.Operations, op.Engine+"/"+op.Type)
	}
	for _, j := range recent {
		page.Jobs = append(page.Jobs, newUIJobRow(j.Job))
	}
	for _, e := range events {
		// Cluster ids are reused after a delete: the events of a former
		// owner of this id are not this organization's to see.
		if e.Organization != org {
			continue
		}
		page.Events = append(page.Events, uiEvent{Type: e.Type, Time: uiTime(&e.CreatedAt), Summary: uiEventSummary(e.Type, e.Data)})
	}
	return u.render(c, http.StatusOK, "cluster", page)
}

func newUIJobRow(j *jobs.Job) uiJobRow {
	r := uiJobRow{
		ID: j.ID, Cluster: j.Cluster, Application: j.Application, Namespace: j.Namespace, Action: j.Action, Status: string(j.Status),
		Trigger: j.Trigger, Duration: uiDuration(j.StartedAt, j.FinishedAt, time.Now()),
		Created: uiTime(&j.CreatedAt), Started: uiTime(j.StartedAt), Finished: uiTime(j.FinishedAt),
	}
	if j.RequestID != nil {
		r.RequestID = *j.RequestID
	}
	r.Waiting = uiJobWaiting(j)
	if j.Error != nil {
		r.Error = j.Error.Code + ": " + j.Error.Message
	}
	return r
}

// uiNextRun is when a cron schedule next runs; "" when it is off or invalid.
func uiNextRun(schedule string, now time.Time) string {
	if schedule == "" {
		return ""
	}
	sch, err := cron.ParseStandard(schedule)
	if err != nil {
		return ""
	}
	next := sch.Next(now)
	return uiTime(&next)
}
