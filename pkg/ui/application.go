package ui

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/vworkspace/pushd/pkg/api"
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/jobs"
	"github.com/vworkspace/pushd/pkg/observe"
)

// The UI's view of the inventory: application counts in the fleet, and the
// applications table of a cluster page. Both are left out when pushd runs
// without an inventory (Deps.Inventory nil).

// appCounts are a cluster's applications in the fleet, from the watcher's
// last results: no request to the cluster.
type appCounts struct {
	Total, Drifted int
}

func (u *server) appCounts(cluster string) *appCounts {
	if u.Inventory == nil {
		return nil
	}
	total, drifted := u.Inventory.Counts(cluster)
	return &appCounts{Total: total, Drifted: drifted}
}

// applicationsSection is the cluster page's applications section.
type applicationsSection struct {
	Items []applicationRow
	// Unavailable is why the list could not be read (a public message).
	Unavailable string
	// Unreadable are the namespaces whose applications could not be read;
	// the others' are listed.
	Unreadable []observe.NamespaceError
}

type applicationRow struct {
	Namespace, Application string
	Health                 string // the worst kstatus of its objects
	Drift                  string // in_sync, drifted or unknown
	// DriftReason is why Drift is unknown; nil otherwise.
	DriftReason   *observe.DriftReason
	Objects       int
	LastJobID     string
	LastJobAction string
	LastJobStatus string
	CheckedAt     string
	// Link is the application's page.
	Link      string
	checkedAt *time.Time
}

// applications reads the cluster's applications. The inventory asks the
// cluster for them, so a failure is shown in the section rather than
// failing the whole page; it is nil without an inventory.
func (u *server) applications(ctx context.Context, cluster string) *applicationsSection {
	if u.Inventory == nil {
		return nil
	}
	list, err := u.Inventory.ApplicationList(ctx, cluster)
	if err != nil {
		e := api.ErrorOf(err)
		u.log.Warn("ui: cluster applications unavailable", "cluster", cluster, "code", e.Code, "err", err)
		return &applicationsSection{Unavailable: e.Message}
	}
	out := &applicationsSection{Items: make([]applicationRow, 0, len(list.Items)), Unreadable: list.UnreadableNamespaces}
	for _, a := range list.Items {
		out.Items = append(out.Items, newApplicationRow(cluster, a))
	}
	return out
}

func newApplicationRow(cluster string, a observe.Application) applicationRow {
	v := applicationRow{
		Namespace: a.Namespace, Application: a.Application, Health: a.Health, Drift: string(a.Drift), DriftReason: a.DriftReason,
		Objects: a.Objects, CheckedAt: showTime(a.CheckedAt), checkedAt: a.CheckedAt,
		Link: applicationPath(cluster, a.Namespace, a.Application),
	}
	if a.LastJob != nil {
		v.LastJobID, v.LastJobAction, v.LastJobStatus = a.LastJob.ID, a.LastJob.Action, string(a.LastJob.Status)
	}
	return v
}

// applicationPath is an application's page.
func applicationPath(cluster, namespace, application string) string {
	return "/ui/clusters/" + url.PathEscape(cluster) + "/applications/" + url.PathEscape(namespace) + "/" + url.PathEscape(application)
}

// applicationJobs is how many of an application's newest jobs its page lists.
const applicationJobs = 25

// applicationPage is one application: its tiles, objects, drifted fields with
// the desired and live values of each, and its jobs.
type applicationPage struct {
	Cluster, ClusterName, Namespace, Application string
	Health, Drift, CheckedAt                     string
	// DriftReason is why drift is unknown (observe's); nil otherwise.
	DriftReason *observe.DriftReason
	// DriftSchedule is the cluster's; CanCheck offers "check drift now".
	DriftSchedule, DriftMode string
	CanCheck                 bool
	Objects                  []applicationObject
	Fields                   []driftedField
	Jobs                     []jobRow
	// Operations are the application's newest operate jobs, each with
	// its outputs (operationRow).
	Operations []operationRow
	// ReferenceID is the job whose manifests drift is measured against:
	// the application's latest intent (observe's reference job).
	ReferenceID string
}

type applicationObject struct {
	Kind, Name, Status, Message string
	Drifted, Missing            bool
}

// driftedField is a field pushd applied that now has another value, who
// changed it and when, and the difference.
type driftedField struct {
	Object, Path, Manager, ChangedAt string
	// Desired is the value in the reference job's manifest; Live the
	// cluster's now. Either is "" when it could not be read, "(removed)"
	// when the field is gone.
	Desired, Live string
}

// newApplicationPage is the application page's tiles: what a shows, on rec.
func newApplicationPage(rec *clusters.Record, a *observe.ApplicationDetail) applicationPage {
	return applicationPage{
		Cluster: rec.ID, ClusterName: rec.DisplayName, Namespace: a.Namespace, Application: a.Application,
		Health: a.Health, Drift: string(a.Drift), DriftReason: a.DriftReason, CheckedAt: showTime(a.CheckedAt),
		DriftSchedule: rec.Drift.Schedule, DriftMode: rec.Drift.Mode, CanCheck: true,
	}
}

// application is one application of a cluster.
func (u *server) application(c echo.Context) error {
	ctx, org := c.Request().Context(), organization(c)
	if u.Inventory == nil {
		return echo.ErrNotFound
	}
	rec, err := u.Clusters.Get(ctx, org, c.Param("id"))
	if err != nil {
		return err
	}
	ns, name := c.Param("namespace"), c.Param("application")
	a, err := u.Inventory.Application(ctx, rec.ID, ns, name)
	if err != nil {
		return err
	}
	page := newApplicationPage(rec, a)
	p, err := u.Jobs.List(ctx, org, jobs.ListOptions{Cluster: rec.ID, Namespace: ns, Application: name, Limit: applicationJobs})
	if err != nil {
		return err
	}
	if a.ReferenceJob != nil {
		page.ReferenceID = a.ReferenceJob.ID
	}
	for _, j := range p.Items {
		row := newJobRow(j.Job)
		row.Reference = j.ID == page.ReferenceID
		page.Jobs = append(page.Jobs, row)
	}
	ops, err := u.Jobs.List(ctx, org, jobs.ListOptions{Cluster: rec.ID, Namespace: ns, Application: name, Action: jobs.ActionOperate, Limit: applicationJobs})
	if err != nil {
		return err
	}
	for _, j := range ops.Items {
		page.Operations = append(page.Operations, newOperationRow(j.Job))
	}
	var reference map[string]map[string]any // "Kind/name" → desired object
	if page.ReferenceID != "" && u.Manifests != nil {
		if stored, err := u.Manifests.Manifests(ctx, org, page.ReferenceID); err == nil {
			reference = objectsByKey(stored)
		}
	}
	for _, o := range a.Objects {
		key := o.Kind + "/" + o.Name
		page.Objects = append(page.Objects, applicationObject{Kind: o.Kind, Name: o.Name, Status: o.Status, Message: o.Message, Drifted: o.Drifted, Missing: o.Missing})
		if len(o.DriftedFields) == 0 {
			continue
		}
		live := u.liveObject(ctx, rec.ID, o)
		for _, f := range o.DriftedFields {
			df := driftedField{Object: key, Path: f.Path, Manager: "(nobody: the field was removed)", ChangedAt: showTime(f.ChangedAt)}
			if f.Manager != nil {
				df.Manager = *f.Manager
			}
			if d, ok := reference[key]; ok {
				df.Desired = fieldValue(d, f.Path)
			}
			if live != nil {
				df.Live = fieldValue(live, f.Path)
			}
			page.Fields = append(page.Fields, df)
		}
	}
	return u.render(c, http.StatusOK, "application", page)
}
