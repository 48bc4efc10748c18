package ui

import (
	"strings"
	"testing"
	"time"

	"github.com/vworkspace/pushd/pkg/apply"
	"github.com/vworkspace/pushd/pkg/jobs"
)

// TestJobPage: the job page shows a waiting job's reason, since, next
// attempt (when a retry set one) and deadline, each retry, the objects with
// their kstatus, and why a cancelled job was cancelled; it is live
// (data-live) while the job is queued or running and static once it is
// final.
func TestJobPage(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	waiting := &jobs.Job{ID: "j-1", Cluster: "c-1", Status: jobs.Queued, CreatedAt: at("2026-05-04T10:00:00Z"),
		Waiting: &jobs.Waiting{Reason: "cluster c-1 is unreachable: connection refused", Since: at("2026-05-04T10:00:05Z"), Deadline: at("2026-05-04T10:05:00Z")},
		Retries: []jobs.Retry{{At: at("2026-05-04T10:00:03Z"), Error: "the API server answered 503"}}}
	running := &jobs.Job{ID: "j-2", Cluster: "c-1", Status: jobs.Running, CreatedAt: at("2026-05-04T10:00:00Z"),
		Objects: []apply.ObjectResult{{ObjectRef: apply.ObjectRef{Version: "v1", Kind: "ConfigMap", Namespace: "apps", Name: "settings"}, Action: apply.ActionCreated, Status: "InProgress"}}}
	done := *running
	done.Status = jobs.Succeeded
	next := at("2026-05-04T10:00:33Z")
	retrying := *waiting
	retrying.Waiting = &jobs.Waiting{Reason: "retrying after a transient failure", Since: at("2026-05-04T10:00:03Z"), NextAttemptAt: &next, Deadline: at("2026-05-04T10:05:00Z")}
	superseded := *running
	superseded.Status = jobs.Cancelled
	superseded.Cancellation = &jobs.Cancellation{Reason: jobs.CancelSuperseded, Message: `job "ag-7" is the application's latest intent now`}
	for _, tt := range []struct {
		name string
		job  *jobs.Job
		live bool     // the page refreshes
		want []string // in the page
		not  []string // not in the page
	}{
		{"waiting", waiting, true, []string{
			"<dd>cluster c-1 is unreachable: connection refused</dd>", "<dd>2026-05-04 10:00:05 UTC</dd>", "<dd>2026-05-04 10:05:00 UTC: it fails then",
			`<td class="nowrap">2026-05-04 10:00:03 UTC</td><td>the API server answered 503</td>`},
			[]string{"Next attempt", "Cancelled"}},
		{"retrying", &retrying, true, []string{"<dd>retrying after a transient failure</dd>", "<dt>Next attempt</dt><dd>2026-05-04 10:00:33 UTC</dd>"}, nil},
		{"running", running, true, []string{"apps/settings", `<span class="kstatus kstatus-InProgress">InProgress</span>`, "None so far."}, []string{"Cancelled"}},
		{"final", &done, false, []string{"apps/settings", "None."}, []string{"Cancelled"}},
		{"superseded", &superseded, false, []string{`<dt>Cancelled</dt><dd><span class="mono">superseded</span>: job &#34;ag-7&#34; is the application&#39;s latest intent now</dd>`}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := renderPage(t, "job", newJobPage(tt.job, at("2026-05-04T10:01:00Z")))
			if live := strings.Contains(got, `<div id="job" data-live>`); live != tt.live {
				t.Errorf("live = %v, want %v", live, tt.live)
			}
			if !tt.live && !strings.Contains(got, `<div id="job">`) {
				t.Error("the final job's section lost its id")
			}
			showsOnly(t, got, tt.want, tt.not)
		})
	}
}
