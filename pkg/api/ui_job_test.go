package api

import (
	"strings"
	"testing"
	"time"

	"github.com/vworkspace/pushd/pkg/apply"
	"github.com/vworkspace/pushd/pkg/jobs"
	"github.com/vworkspace/pushd/pkg/store"
)

// TestUIJobPage: the job page shows a waiting job's reason, since and
// deadline, each retry, and the objects with their kstatus; it is live
// (data-live) while the job is queued or running and static once it is
// final.
func TestUIJobPage(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	waiting := &jobs.Job{ID: "j-1", Cluster: "c-1", Status: store.JobQueued, CreatedAt: at("2026-05-04T10:00:00Z"),
		Waiting: &jobs.Waiting{Reason: "cluster c-1 is unreachable: connection refused", Since: at("2026-05-04T10:00:05Z"), Deadline: at("2026-05-04T10:05:00Z")},
		Retries: []jobs.Retry{{At: at("2026-05-04T10:00:03Z"), Error: "the API server answered 503"}}}
	running := &jobs.Job{ID: "j-2", Cluster: "c-1", Status: store.JobRunning, CreatedAt: at("2026-05-04T10:00:00Z"),
		Objects: []apply.ObjectResult{{ObjectRef: apply.ObjectRef{Version: "v1", Kind: "ConfigMap", Namespace: "apps", Name: "settings"}, Action: apply.ActionCreated, Status: "InProgress"}}}
	done := *running
	done.Status = store.JobSucceeded
	for _, tt := range []struct {
		name string
		job  *jobs.Job
		live bool     // the page refreshes
		want []string // in the page
	}{
		{"waiting", waiting, true, []string{
			"<dd>cluster c-1 is unreachable: connection refused</dd>", "<dd>2026-05-04 10:00:05 UTC</dd>", "<dd>2026-05-04 10:05:00 UTC: it fails then",
			`<td class="nowrap">2026-05-04 10:00:03 UTC</td><td>the API server answered 503</td>`}},
		{"running", running, true, []string{"apps/settings", `<span class="kstatus kstatus-InProgress">InProgress</span>`, "None so far."}},
		{"final", &done, false, []string{"apps/settings", "None."}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := renderPage(t, "job", newUIJob(tt.job, at("2026-05-04T10:01:00Z")))
			if live := strings.Contains(got, `<div id="job" data-live>`); live != tt.live {
				t.Errorf("live = %v, want %v", live, tt.live)
			}
			if !tt.live && !strings.Contains(got, `<div id="job">`) {
				t.Error("the final job's section lost its id")
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("the page lacks %q", w)
				}
			}
		})
	}
}
