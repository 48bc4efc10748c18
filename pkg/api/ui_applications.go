package api

import (
	"context"

	"github.com/vworkspace/pushd/pkg/observe"
)

// The UI's view of the inventory: application counts in the fleet, and the
// applications table of a cluster page. Both are left out when pushd runs
// without an inventory (Deps.Inventory nil).

// uiAppCounts are a cluster's applications in the fleet, from the watcher's
// last results: no request to the cluster.
type uiAppCounts struct {
	Total, Drifted int
}

func (u *ui) appCounts(cluster string) *uiAppCounts {
	if u.s.Inventory == nil {
		return nil
	}
	total, drifted := u.s.Inventory.Counts(cluster)
	return &uiAppCounts{Total: total, Drifted: drifted}
}

// uiApplications is the cluster page's applications section.
type uiApplications struct {
	Items []uiApplication
	// Unavailable is why the list could not be read (a public message).
	Unavailable string
}

type uiApplication struct {
	Namespace, Application string
	Health                 string // the worst kstatus of its objects
	Drift                  string // in_sync, drifted or unknown
	Objects                int
	LastJobID              string
	LastJobAction          string
	LastJobStatus          string
	CheckedAt              string
}

// applications reads the cluster's applications. The inventory asks the
// cluster for them, so a failure is shown in the section rather than
// failing the whole page; it is nil without an inventory.
func (u *ui) applications(ctx context.Context, cluster string) *uiApplications {
	if u.s.Inventory == nil {
		return nil
	}
	apps, err := u.s.Inventory.Applications(ctx, cluster)
	if err != nil {
		e := toAPIError(err)
		u.s.log.Warn("ui: cluster applications unavailable", "cluster", cluster, "code", e.Code, "err", err)
		return &uiApplications{Unavailable: e.Message}
	}
	out := &uiApplications{Items: make([]uiApplication, 0, len(apps))}
	for _, a := range apps {
		out.Items = append(out.Items, newUIApplication(a))
	}
	return out
}

func newUIApplication(a observe.Application) uiApplication {
	v := uiApplication{
		Namespace: a.Namespace, Application: a.Application, Health: a.Health, Drift: string(a.Drift),
		Objects: a.Objects, CheckedAt: uiTime(a.CheckedAt),
	}
	if a.LastJob != nil {
		v.LastJobID, v.LastJobAction, v.LastJobStatus = a.LastJob.ID, a.LastJob.Action, string(a.LastJob.Status)
	}
	return v
}
