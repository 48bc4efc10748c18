package api

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/jobs"
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

// observed is what the monitor last saw of rec, from all if it is there.
func (u *ui) observed(ctx context.Context, rec *clusters.Record, all map[string]clusters.Status) (clusters.Status, error) {
	if st, ok := all[rec.ID]; ok {
		return st, nil
	}
	return u.s.Health.Observed(ctx, rec.ID)
}

func (u *ui) recentJobs(ctx context.Context, org, cluster string, limit int) ([]jobs.Summary, error) {
	p, err := u.s.Jobs.List(ctx, org, jobs.ListOptions{Cluster: cluster, Limit: limit})
	if err != nil {
		return nil, err
	}
	return p.Items, nil
}

type uiFleet struct {
	Clusters  []uiClusterRow
	JobWindow int
	// Inventory shows the applications column.
	Inventory bool
}

// fleet is every cluster of the session's organization.
func (u *ui) fleet(c echo.Context) error {
	ctx, org := c.Request().Context(), organization(c)
	recs, err := u.s.Clusters.List(ctx, org)
	if err != nil {
		return err
	}
	all, err := u.s.Health.ObservedAll(ctx)
	if err != nil {
		return err
	}
	page := uiFleet{Clusters: make([]uiClusterRow, 0, len(recs)), JobWindow: uiJobWindow, Inventory: u.s.Inventory != nil}
	for _, rec := range recs {
		st, err := u.observed(ctx, rec, all)
		if err != nil {
			return err
		}
		recent, err := u.recentJobs(ctx, org, rec.ID, uiJobWindow)
		if err != nil {
			return err
		}
		row := newUIClusterRow(rec, st, recent)
		row.Applications = u.appCounts(rec.ID)
		page.Clusters = append(page.Clusters, row)
	}
	return u.render(c, http.StatusOK, "fleet", org, page)
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
	Namespaces                             []clusters.NamespaceStatus
	Applications                           *uiApplications // nil without an inventory
	Jobs                                   []uiJobRow
	Events                                 []uiEvent
}

type uiJobRow struct {
	ID, Application, Namespace, Action, Status, Error string
	Created, Started, Finished                        string
}

type uiEvent struct {
	Type, Time, Summary string
}

// cluster is one cluster: its record, what pushd observes, its recent jobs and events.
func (u *ui) cluster(c echo.Context) error {
	ctx, org := c.Request().Context(), organization(c)
	rec, err := u.s.Clusters.Get(ctx, org, c.Param("id"))
	if err != nil {
		return err
	}
	st, err := u.observed(ctx, rec, nil)
	if err != nil {
		return err
	}
	recent, err := u.recentJobs(ctx, org, rec.ID, uiClusterJobs)
	if err != nil {
		return err
	}
	events, err := u.s.Store.Events(ctx, rec.ID, uiClusterEvents)
	if err != nil {
		return err
	}
	page := uiCluster{
		Row: newUIClusterRow(rec, st, recent), Mode: rec.Connectivity,
		AllowedNamespaces: rec.AllowedNamespaces, AllowedApplications: rec.AllowedApplications,
		DriftSchedule: rec.Drift.Schedule, DriftMode: rec.Drift.Mode, UpdatedAt: uiTime(&rec.UpdatedAt),
		ServerVersion: st.ServerVersion, ExcessRights: st.Credential.ExcessRights, Namespaces: st.Namespaces,
		Applications: u.applications(ctx, rec.ID),
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
		page.Events = append(page.Events, uiEvent{Type: e.Type, Time: uiTime(&e.CreatedAt), Summary: uiEventSummary(e.Data)})
	}
	return u.render(c, http.StatusOK, "cluster", org, page)
}

func newUIJobRow(j *jobs.Job) uiJobRow {
	r := uiJobRow{
		ID: j.ID, Application: j.Application, Namespace: j.Namespace, Action: j.Action, Status: string(j.Status),
		Created: uiTime(&j.CreatedAt), Started: uiTime(j.StartedAt), Finished: uiTime(j.FinishedAt),
	}
	if j.Error != nil {
		r.Error = j.Error.Code + ": " + j.Error.Message
	}
	return r
}

// uiEventKeys are the fields of event data worth a summary, in order.
var uiEventKeys = []string{
	"id", "application", "namespace", "action", "status", "state", "previous_state",
	"health", "previous_health", "mode", "subject", "expiry", "correction_job", "message",
}

// uiEventSummary is one line of an event's data: its telling fields, in a
// fixed order, the error of a job, the rest left to the API.
func uiEventSummary(data string) string {
	var m map[string]any
	if err := json.Unmarshal([]byte(data), &m); err != nil {
		return uiTruncate(data)
	}
	var parts []string
	for _, k := range uiEventKeys {
		switch v := m[k].(type) {
		case nil:
		case string:
			if v != "" {
				parts = append(parts, k+"="+v)
			}
		case float64, bool:
			parts = append(parts, fmt.Sprintf("%s=%v", k, v))
		}
	}
	if e, ok := m["error"].(map[string]any); ok {
		parts = append(parts, fmt.Sprintf("error=%v: %v", e["code"], e["message"]))
	}
	if objs, ok := m["objects"].([]any); ok && len(objs) > 0 {
		parts = append(parts, fmt.Sprintf("objects=%d", len(objs)))
	}
	return uiTruncate(strings.Join(parts, " · "))
}

func uiTruncate(s string) string {
	r := []rune(s)
	if len(r) <= uiSummaryRunes {
		return s
	}
	return string(r[:uiSummaryRunes-1]) + "…"
}

type uiJob struct {
	*jobs.Job
	// These shadow the Job's fields of the same name with display strings.
	RequestID, Operation       string
	Created, Started, Finished string
	ErrorCode, ErrorMessage    string
}

// job is one job with its per-object results.
func (u *ui) job(c echo.Context) error {
	ctx, org := c.Request().Context(), organization(c)
	j, err := u.s.Jobs.Get(ctx, org, c.Param("id"))
	if err != nil {
		return err
	}
	page := uiJob{
		Job: j, Operation: j.Operation.Engine + "/" + j.Operation.Type,
		Created: uiTime(&j.CreatedAt), Started: uiTime(j.StartedAt), Finished: uiTime(j.FinishedAt),
	}
	if j.RequestID != nil {
		page.RequestID = *j.RequestID
	}
	if j.Error != nil {
		page.ErrorCode, page.ErrorMessage = j.Error.Code, j.Error.Message
	}
	return u.render(c, http.StatusOK, "job", org, page)
}
