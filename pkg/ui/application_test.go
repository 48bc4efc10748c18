package ui

import (
	"testing"

	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/observe"
)

// TestDriftReason: where the UI shows a drift of unknown — the cluster
// page's applications and the application page's drift tile — it says
// pushd's reason, code and sentence, with a link to the job in progress
// when there is one; a known drift shows no reason.
func TestDriftReason(t *testing.T) {
	inProgress := &observe.DriftReason{Code: observe.DriftReasonJobInProgress, Job: "ag-6",
		Message: `job "ag-6" of the application is running: it brings a newer intent; drift is checked against it once it ends`}
	reason := `<span class="mono">job_in_progress</span>: job &#34;ag-6&#34; of the application is running: it brings a newer intent; drift is checked against it once it ends`
	link := `<a class="id" href="/ui/jobs/ag-6">ag-6</a>`
	rec := &clusters.Record{ID: "c-1", DisplayName: "Cluster 1"}
	unknown := observe.Application{Namespace: "apps", Application: "web", Health: "Current", Drift: observe.DriftUnknown, DriftReason: inProgress}
	inSync := observe.Application{Namespace: "apps", Application: "wiki", Health: "Current", Drift: observe.DriftInSync}

	for _, tt := range []struct {
		name, page string
		data       any
		want, not  []string
	}{
		{"cluster, unknown", "cluster", clusterPage{Applications: &applicationsSection{Items: []applicationRow{newApplicationRow("c-1", unknown)}}},
			[]string{`<span class="drift drift-unknown">unknown</span>`, reason, link}, nil},
		{"cluster, in sync", "cluster", clusterPage{Applications: &applicationsSection{Items: []applicationRow{newApplicationRow("c-1", inSync)}}},
			[]string{`<span class="drift drift-in_sync">in_sync</span>`}, []string{`class="sub why"`}},
		{"application, unknown", "application", newApplicationPage(rec, &observe.ApplicationDetail{Namespace: "apps", Application: "web", Drift: observe.DriftUnknown, DriftReason: inProgress}),
			[]string{`<span class="drift drift-unknown">unknown</span>`, reason, link}, nil},
		{"application, in sync", "application", newApplicationPage(rec, &observe.ApplicationDetail{Namespace: "apps", Application: "wiki", Drift: observe.DriftInSync}),
			[]string{`<span class="drift drift-in_sync">in_sync</span>`}, []string{`class="sub why"`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := renderPage(t, tt.page, tt.data)
			showsOnly(t, got, tt.want, tt.not)
		})
	}
}
