package ui

import (
	"testing"
	"time"

	"github.com/vworkspace/pushd/pkg/jobs"
	"github.com/vworkspace/pushd/pkg/outcome"
)

// TestOperationPages: an operate job's page shows its result — each output
// as JSON, the resource's conditions, when it was observed — and the
// application's page lists its operations with their outputs.
func TestOperationPages(t *testing.T) {
	observed := time.Date(2026, 5, 4, 10, 2, 0, 0, time.UTC)
	backup := &jobs.Job{ID: "backup-7", Cluster: "c-1", Namespace: "apps", Application: "mattermost", Action: jobs.ActionOperate,
		Operation: jobs.Operation{Engine: "velero", Type: "backup"}, Status: jobs.Succeeded, CreatedAt: observed.Add(-time.Minute),
		Result: &jobs.Result{Outputs: map[string]any{"name": "nightly", "items": 42}, ObservedAt: observed,
			Conditions: []outcome.Condition{{Type: "Succeeded", Status: "True", Reason: "Completed", Message: "42 items"}}}}
	got := renderPage(t, "job", newJobPage(backup, observed))
	showsOnly(t, got, []string{"<h2>Result</h2>", "last observed 2026-05-04 10:02:00 UTC",
		`<td class="mono">items</td><td class="mono">42</td>`, `<td class="mono">name</td><td class="mono">&#34;nightly&#34;</td>`,
		"<td>Succeeded</td><td>True</td><td>Completed</td><td>42 items</td>"}, nil)

	apply := &jobs.Job{ID: "deploy-1", Cluster: "c-1", Namespace: "apps", Application: "mattermost", Action: jobs.ActionApply, Status: jobs.Succeeded}
	showsOnly(t, renderPage(t, "job", newJobPage(apply, observed)), []string{"<h2>Objects</h2>"}, []string{"<h2>Result</h2>"})

	page := applicationPage{Cluster: "c-1", Namespace: "apps", Application: "mattermost", Operations: []operationRow{newOperationRow(backup)}}
	showsOnly(t, renderPage(t, "application", page), []string{"<h2>Operations</h2>", `<a class="id" href="/ui/jobs/backup-7">backup-7</a>`,
		`<td class="mono">velero/backup</td>`, `<div class="mono">items = 42</div>`, `<div class="mono">name = &#34;nightly&#34;</div>`}, []string{"No operations"})
	showsOnly(t, renderPage(t, "application", applicationPage{Cluster: "c-1", Namespace: "apps", Application: "mattermost"}), []string{"No operations"}, nil)
}
