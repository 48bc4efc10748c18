package ui_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vworkspace/pushd/pkg/api"
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/config"
	"github.com/vworkspace/pushd/pkg/jobs"
	"github.com/vworkspace/pushd/pkg/observe"
	"github.com/vworkspace/pushd/pkg/ui"
)

// fakeFleet is every page's data, held by the UI's fakes: acme's cluster
// c-1 with an application, a finished job and a queued one of request
// r-1, an event, a parked callback and an audit entry; globex's cluster g-1.
type fakeFleet struct {
	deps ui.Deps
	jobs *ui.FakeJobs
	cbs  *ui.FakeCallbacks
	inv  *ui.FakeInventory
}

func newFakeFleet() fakeFleet {
	now := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	rid := "r-1"
	js := &ui.FakeJobs{
		Jobs: []*jobs.Job{
			{ID: "j-done", Organization: "acme", Cluster: "c-1", Namespace: "apps", Application: "wiki", Action: jobs.ActionApply, Trigger: "odoo",
				Status: jobs.Succeeded, CreatedAt: now},
			{ID: "j-queued", Organization: "acme", Cluster: "c-1", Namespace: "apps", Application: "wiki", Action: jobs.ActionApply, Trigger: "odoo",
				Status: jobs.Queued, CreatedAt: now.Add(time.Second), RequestID: &rid},
			{ID: "j-globex", Organization: "globex", Cluster: "g-1", Status: jobs.Queued, CreatedAt: now},
		},
		Stored: map[string]string{"j-done": `[{"apiVersion":"v1","kind":"Secret","metadata":{"name":"creds"},"data":{"password":"aHVudGVyMg=="}}]`},
	}
	inv := &ui.FakeInventory{
		Apps: map[string][]observe.Application{"c-1": {{Namespace: "apps", Application: "wiki", Health: "Failed", Drift: observe.DriftDrifted, Objects: 1}}},
		Details: map[string]*observe.ApplicationDetail{"c-1/apps/wiki": {Namespace: "apps", Application: "wiki", Health: "Failed", Drift: observe.DriftDrifted,
			Objects: []observe.Object{{Kind: "ConfigMap", Name: "settings", Status: "Current"}}}},
	}
	cbs := &ui.FakeCallbacks{Events: []ui.ParkedEvent{{Event: ui.Event{ID: "evt-parked", Type: "job.status_changed", Organization: "acme", Cluster: "c-1",
		CreatedAt: now}, Seq: 1, ParkedAt: now}}}
	return fakeFleet{jobs: js, cbs: cbs, inv: inv, deps: ui.Deps{
		Clusters: &ui.FakeClusters{Records: map[string][]*clusters.Record{
			"acme":   {{ID: "c-1", DisplayName: "Cluster One", AllowedNamespaces: []string{"apps"}}},
			"globex": {{ID: "g-1", DisplayName: "Globex One"}},
		}},
		Health: &ui.FakeHealth{Status: map[string]clusters.Status{
			"c-1": {Connectivity: clusters.Connectivity{State: clusters.StateReady}, ServerVersion: "v1.37.2"},
		}},
		Jobs: js, Manifests: js, Inventory: inv, Callbacks: cbs,
		Events: &ui.FakeEvents{ByCluster: map[string][]ui.Event{"c-1": {{Type: "x.custom", Organization: "acme", Data: `{"message":"an event of c-1"}`, CreatedAt: now}}}},
		Audit: &ui.FakeAuditLog{Entries: []ui.AuditEntry{{Seq: 1, At: now, Organization: "acme", ActorKind: "webhook", ActorID: "abcd1234",
			Action: "record.written", Cluster: "c-1", Outcome: api.AuditOK, Status: 201}}},
	}}
}

// browserClient keeps the session cookie and shows every redirect.
type browserClient struct {
	t    *testing.T
	base string
	c    *http.Client
}

func (b *browserClient) send(req *http.Request) (int, http.Header, string) {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(body)
}

func (b *browserClient) get(path string) (int, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.base+path, nil)
	code, _, body := b.send(req)
	return code, body
}

func (b *browserClient) post(path string, form url.Values) (int, http.Header) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	code, h, _ := b.send(req)
	return code, h
}

// TestPagesOnFakes: every page shows what its collaborator holds, and
// nothing of another organization, with the UI mounted in a bare API server
// and fakes for everything else: no cluster, no database.
func TestPagesOnFakes(t *testing.T) {
	f := newFakeFleet()
	auth, err := api.NewAuthenticator(nil, []config.Credential{{Organization: "acme", Value: acmeToken}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := api.New(api.Deps{Auth: auth}, api.Options{})
	f.deps.Front, f.deps.Auth = srv, auth
	srv.Mount("/ui", ui.New(f.deps, ui.Options{}))
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	jar, _ := cookiejar.New(nil)
	b := &browserClient{t: t, base: ts.URL, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	if code, h := b.post("/ui/login", url.Values{"token": {acmeToken}}); code != http.StatusSeeOther || h.Get("Location") != "/ui/" {
		t.Fatalf("login: %d %v", code, h)
	}

	for _, tt := range []struct {
		path string
		want []string
	}{
		{"/ui/", []string{`href="/ui/clusters/c-1"`, "Cluster One", "state-ready", "<strong>1</strong> application failed",
			"<strong>1</strong> application drifted", "<strong>1</strong> parked callback<", "1 queued", "1 succeeded"}},
		{"/ui/clusters/c-1", []string{"v1.37.2", `href="/ui/jobs/j-queued"`, "an event of c-1", `/applications/apps/wiki">wiki</a>`}},
		{"/ui/clusters/c-1/applications/apps/wiki", []string{"ConfigMap", "settings", `href="/ui/jobs/j-done"`}},
		{"/ui/jobs/j-done", []string{"j-done", "password: (hidden)", "/ui/clusters/c-1/applications/apps/wiki"}},
		{"/ui/jobs?status=queued", []string{"j-queued"}},
		{"/ui/requests/r-1", []string{"j-queued", "Cancel every unfinished job"}},
		{"/ui/callbacks", []string{"evt-parked", `action="/ui/callbacks/evt-parked/resend"`}},
		{"/ui/audit", []string{"record.written", "webhook abcd1234"}},
	} {
		code, body := b.get(tt.path)
		if code != http.StatusOK {
			t.Errorf("%s: %d\n%s", tt.path, code, body)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s lacks %q", tt.path, w)
			}
		}
		for _, bad := range []string{"g-1", "Globex One", "j-globex", "aHVudGVyMg=="} {
			if strings.Contains(body, bad) {
				t.Errorf("%s shows %q", tt.path, bad)
			}
		}
	}
	if _, body := b.get("/ui/jobs?status=succeeded"); strings.Contains(body, "j-queued") {
		t.Error("the jobs filter is not passed to the job service")
	}
	for _, path := range []string{"/ui/clusters/g-1", "/ui/jobs/j-globex", "/ui/requests/nope", "/ui/clusters/c-1/applications/apps/nope"} {
		if code, _ := b.get(path); code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", path, code)
		}
	}

	_, fleet := b.get("/ui/")
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(fleet)
	if m == nil {
		t.Fatal("no anti-forgery token on the fleet page")
	}
	token := m[1]
	for _, a := range []struct {
		path, location string
		done           func() bool
	}{
		{"/ui/jobs/j-queued/cancel", "/ui/jobs/j-queued?done=cancel", func() bool { return len(f.jobs.Cancelled) == 1 }},
		{"/ui/clusters/c-1/drift-check", "/ui/clusters/c-1?done=drift-check", func() bool { return len(f.inv.DriftChecks) == 1 }},
		{"/ui/callbacks/evt-parked/resend", "/ui/callbacks?done=resend", func() bool { return len(f.cbs.ParkedEvents("acme")) == 0 }},
	} {
		if code, _ := b.post(a.path, url.Values{"csrf": {"forged"}}); code != http.StatusForbidden {
			t.Errorf("%s with a forged token: %d, want 403", a.path, code)
		}
		if a.done() {
			t.Fatalf("%s was done with a forged token", a.path)
		}
		if code, h := b.post(a.path, url.Values{"csrf": {token}}); code != http.StatusSeeOther || h.Get("Location") != a.location {
			t.Errorf("%s: %d %v, want a redirect to %s", a.path, code, h, a.location)
		}
		if !a.done() {
			t.Errorf("%s did not reach its service", a.path)
		}
	}
}
