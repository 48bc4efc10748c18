package ui

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/health"
	"github.com/vworkspace/pushd/pkg/jobs"
)

// What several pages show alike: a cluster's row, a job's row, counts by
// status, times and durations, page sizes.

// clusterRow is one cluster as the fleet table and the cluster page's
// header show it. It holds what pushd observed, never the credential: only
// its subject and expiry.
type clusterRow struct {
	ID, DisplayName string
	Labels          []string // "key=value", sorted
	State, Message  string
	// Reason is why the cluster is not ready, in a sentence; empty when ready.
	Reason string
	// OverPrivileged: the credential has rights beyond what pushd needs.
	OverPrivileged bool
	// Expiring: the credential expires within expiringWithin.
	Expiring        bool
	CheckedAt       string
	Breaker         string
	RetryAt         string
	Subject, Expiry string
	ExcessRights    int
	Namespaces      namespaceSummary
	Jobs            []statusCount
	// Applications is nil when pushd runs without an inventory.
	Applications *appCounts
}

type namespaceSummary struct {
	// Allowed is the record's; the others count what the last probe observed.
	Allowed, Observed, Exists, Labeled, RightsOK int
	// Excess counts namespaces where the credential has more than pushd needs.
	Excess int
	// OK is every allowed namespace observed existing, labeled, with exactly the rights pushd needs.
	OK bool
}

type statusCount struct {
	Status string
	Count  int
}

func newClusterRow(rec *clusters.Record, st health.Status, recent []jobs.Summary) clusterRow {
	r := clusterRow{
		ID: rec.ID, DisplayName: rec.DisplayName,
		State: string(st.Connectivity.State), Message: st.Connectivity.Message,
		CheckedAt: showTime(st.Connectivity.CheckedAt), Breaker: st.Connectivity.Breaker,
		Subject: st.Credential.Subject, ExcessRights: len(st.Credential.ExcessRights),
		Reason: notReadyReason(st.Connectivity),
	}
	for _, k := range slices.Sorted(maps.Keys(rec.Labels)) {
		r.Labels = append(r.Labels, k+"="+rec.Labels[k])
	}
	if st.Connectivity.RetryAt != nil {
		r.RetryAt = showTime(st.Connectivity.RetryAt)
	}
	if st.Credential.Expiry != nil {
		r.Expiry = showTime(st.Credential.Expiry)
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
	r.OverPrivileged = overPrivileged(st, ns.Excess)
	r.Expiring = st.Credential.Expiry != nil && time.Until(*st.Credential.Expiry) < expiringWithin
	ns.OK = ns.Observed == ns.Allowed && ns.Exists == ns.Allowed && ns.Labeled == ns.Allowed && ns.RightsOK == ns.Allowed && ns.Excess == 0
	counts := map[jobs.Status]int{}
	for _, j := range recent {
		counts[j.Status]++
	}
	for _, s := range jobs.Statuses {
		if counts[s] > 0 {
			r.Jobs = append(r.Jobs, statusCount{Status: string(s), Count: counts[s]})
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

// showTime is how every page shows a time.
func showTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func (u *server) recentJobs(ctx context.Context, org, cluster string, limit int) ([]jobs.Summary, error) {
	p, err := u.Jobs.List(ctx, org, jobs.ListOptions{Cluster: cluster, Limit: limit})
	if err != nil {
		return nil, err
	}
	return p.Items, nil
}

type jobRow struct {
	ID, Cluster, Application, Namespace, Action, Status, Error string
	Trigger, RequestID, Duration                               string
	Created, Started, Finished                                 string
	// Reference marks the job drift is measured against (application page).
	Reference bool
	// Waiting is why a queued job waits; empty when it does not.
	Waiting string
}

func newJobRow(j *jobs.Job) jobRow {
	r := jobRow{
		ID: j.ID, Cluster: j.Cluster, Application: j.Application, Namespace: j.Namespace, Action: j.Action, Status: string(j.Status),
		Trigger: j.Trigger, Duration: jobDuration(j.StartedAt, j.FinishedAt, time.Now()),
		Created: showTime(&j.CreatedAt), Started: showTime(j.StartedAt), Finished: showTime(j.FinishedAt),
	}
	if j.RequestID != nil {
		r.RequestID = *j.RequestID
	}
	r.Waiting = waitReason(j)
	if j.Error != nil {
		r.Error = j.Error.Code + ": " + j.Error.Message
	}
	return r
}

// operationRow is an operate job in an application's list of operations:
// the job's row, its type and its outputs as name=JSON.
type operationRow struct {
	jobRow
	Type    string
	Outputs []jobOutput
}

func newOperationRow(j *jobs.Job) operationRow {
	r := operationRow{jobRow: newJobRow(j), Type: j.Operation.Engine + "/" + j.Operation.Type}
	if j.Result != nil {
		for _, name := range slices.Sorted(maps.Keys(j.Result.Outputs)) {
			b, _ := json.Marshal(j.Result.Outputs[name])
			r.Outputs = append(r.Outputs, jobOutput{Name: name, Value: string(b)})
		}
	}
	return r
}

// pageSize is a listing's page size: ?limit= when it is 1–500, else def.
func pageSize(c echo.Context, def int) int {
	if n, err := strconv.Atoi(c.QueryParam("limit")); err == nil && n >= 1 && n <= 500 {
		return n
	}
	return def
}

// jobDuration is how long a job ran (or has been running), for people.
func jobDuration(start, end *time.Time, now time.Time) string {
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
