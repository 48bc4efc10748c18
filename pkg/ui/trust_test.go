package ui

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/vworkspace/pushd/pkg/health"
	"github.com/vworkspace/pushd/pkg/jobs"
	"github.com/vworkspace/pushd/pkg/observe"
	"github.com/vworkspace/pushd/web"
)

// render executes a page of the real templates with data.
func renderPage(t *testing.T, page string, data any) string {
	t.Helper()
	pages, err := web.ParsePages()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := pages.Execute(&b, page, layoutData{Org: "acme", CSRF: "tok", Data: data}); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// showsOnly fails the test for each of want the rendered page lacks and
// each of not it shows.
func showsOnly(t *testing.T, got string, want, not []string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("the page lacks %q", w)
		}
	}
	for _, w := range not {
		if strings.Contains(got, w) {
			t.Errorf("the page shows %q", w)
		}
	}
}

// TestTrustPlaces: the places that show the trust model render their
// value when it is set (waiting jobs, namespace read errors, failed
// applications), and are absent while it is not; each reads its field.
func TestTrustPlaces(t *testing.T) {
	job := &jobs.Job{ID: "j-1", Cluster: "c-1", Status: "queued", CreatedAt: time.Now()}
	for _, tt := range []struct {
		page       string
		data       any
		with, none string
	}{
		{"job", uiJob{Job: job, Waiting: &jobWaiting{Reason: "the cluster is unreachable"}}, "<dt>Waiting</dt><dd>the cluster is unreachable</dd>", `class="waiting"`},
		{"jobs", jobsPage{Jobs: []jobRow{{ID: "j-1", Status: "queued", Waiting: "the cluster is unreachable"}}}, `<div class="sub waiting">the cluster is unreachable</div>`, `class="sub waiting"`},
		{"cluster", clusterPage{Namespaces: []namespaceRow{{NamespaceStatus: health.NamespaceStatus{Name: "apps"}, ReadError: "forbidden: list configmaps"}}},
			"could not be read</span>: forbidden: list configmaps", "could not be read"},
		{"fleet", fleetPage{Summary: summary{FailedApps: 2, Parked: -1}}, "<strong>2</strong> applications failed", "applications failed"},
	} {
		if got := renderPage(t, tt.page, tt.data); !strings.Contains(got, tt.with) {
			t.Errorf("%s page with the value lacks %q", tt.page, tt.with)
		}
		empty := map[string]any{
			"job": uiJob{Job: job}, "jobs": jobsPage{Jobs: []jobRow{{ID: "j-1", Status: "queued"}}},
			"cluster": clusterPage{Namespaces: []namespaceRow{{NamespaceStatus: health.NamespaceStatus{Name: "apps", Exists: true}}}},
			"fleet":   fleetPage{Summary: summary{FailedApps: -1, Parked: -1}},
		}[tt.page]
		if got := renderPage(t, tt.page, empty); strings.Contains(got, tt.none) {
			t.Errorf("%s page without the value shows %q", tt.page, tt.none)
		}
	}
	waiting := &jobs.Job{ID: "j-2", Status: "queued", Waiting: &jobs.Waiting{Reason: "cluster \"c-1\" is unreachable"}}
	if got := waitReason(waiting); got != waiting.Waiting.Reason {
		t.Errorf("waitReason = %q, want the job's wait reason", got)
	}
	if waitReason(job) != "" {
		t.Error("a job that does not wait is shown waiting")
	}
	unreadable := []observe.NamespaceError{{Namespace: "apps", Reason: "forbidden"}}
	if got := namespaceReadError(health.NamespaceStatus{Name: "apps"}, unreadable); got != "forbidden" {
		t.Errorf("namespaceReadError(apps) = %q", got)
	}
	if got := namespaceReadError(health.NamespaceStatus{Name: "web"}, unreadable); got != "" {
		t.Errorf("namespaceReadError(web) = %q, want none", got)
	}
	over := health.Status{Namespaces: []health.NamespaceStatus{{Name: "apps", ExcessRights: []string{"create configmaps in other"}}}}
	if !overPrivileged(over, 0) || overPrivileged(health.Status{}, 0) {
		t.Error("overPrivileged does not follow Status.OverPrivileged")
	}
}

func TestNotReadyReason(t *testing.T) {
	retry := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		c    health.Connectivity
		want string
	}{
		{health.Connectivity{State: health.StateReady}, ""},
		{health.Connectivity{State: health.StateUnreachable, Message: `Get "https://127.0.0.1:46281/version?timeout=30s": dial tcp 127.0.0.1:46281: connect: connection refused`},
			"Nothing answers at the API server's address (connection refused): the cluster or its API server is down."},
		{health.Connectivity{State: health.StateUnreachable, Message: "context deadline exceeded", Breaker: "open", RetryAt: &retry},
			"The API server did not answer in time. Next try 2026-01-01 00:00:00 UTC."},
		{health.Connectivity{State: health.StateUnreachable, Message: "x509: certificate signed by unknown authority"}, "The API server's TLS certificate is not the one its kubeconfig trusts."},
		{health.Connectivity{State: health.StateUnauthorized, Message: "401"}, "The cluster refused the credential (expired or revoked): renew it or bootstrap again."},
	} {
		if got := notReadyReason(tt.c); got != tt.want {
			t.Errorf("notReadyReason(%s, %q) = %q, want %q", tt.c.State, tt.c.Message, got, tt.want)
		}
	}
}

func TestFieldValue(t *testing.T) {
	obj := map[string]any{"kind": "Deployment", "data": map[string]any{"domain": "a.example"},
		"spec": map[string]any{"replicas": float64(2), "containers": []any{
			map[string]any{"name": "side", "image": "side:1"}, map[string]any{"name": "app", "image": "app:2"}}}}
	for path, want := range map[string]string{
		".data.domain": `"a.example"`, ".spec.replicas": "2", `.spec.containers[name="app"].image`: `"app:2"`,
		".data.gone": "(removed)", `.spec.containers[name="nope"].image`: "(removed)", ".data.domain.x": "",
	} {
		if got := fieldValue(obj, path); got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
	if got := fieldValue(map[string]any{"kind": "Secret", "data": map[string]any{"p": "c2VjcmV0"}}, ".data.p"); got != hidden {
		t.Errorf("a Secret's value shown: %q", got)
	}
}

func TestManifestsHideSecretValues(t *testing.T) {
	got := showManifests(`[{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s","annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"data\":{\"password\":\"bGFzdC1hcHBsaWVk\"}}"}},"data":{"password":"aHVudGVyMg=="},"stringData":{"token":"plain-secret"}},
		{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"k":"v"}}]`)
	for _, bad := range []string{"aHVudGVyMg==", "plain-secret", "bGFzdC1hcHBsaWVk"} {
		if strings.Contains(got, bad) {
			t.Errorf("manifests show a Secret value %q:\n%s", bad, got)
		}
	}
	for _, want := range []string{"password: (hidden)", "token: (hidden)", "k: v", "---\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("manifests lack %q:\n%s", want, got)
		}
	}
}
