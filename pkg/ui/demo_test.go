package ui_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"

	"github.com/vworkspace/pushd/internal/logbuf"
	"github.com/vworkspace/pushd/pkg/api"
	"github.com/vworkspace/pushd/pkg/apply"
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/config"
	"github.com/vworkspace/pushd/pkg/health"
	"github.com/vworkspace/pushd/pkg/jobs"
	"github.com/vworkspace/pushd/pkg/observe"
	"github.com/vworkspace/pushd/pkg/ui"
)

// Two organizations, each with a read token (a login) and a webhook secret
// (not a login).
const (
	acmeToken    = "acme-read-token-0123456789abcdef"
	globexToken  = "globex-read-token-0123456789abcd"
	acmeSecret   = "whsec_YWNtZS1zZWNyZXQta2V5LWZvci10ZXN0cw=="
	globexSecret = "whsec_Z2xvYmV4LXNlY3JldC1rZXktZm9yLXRlc3Rz"
)

const (
	hostileName   = `"><img src=x onerror=alert(1)> javascript:alert(1)`
	scriptName    = `<script>alert("x")</script> Staging`
	secretValue   = "hunter2-very-secret"
	driftManager  = "kubectl-edit-by-bob"
	missingNSName = "absent-ns"
	refusedDial   = "Get \"https://127.0.0.1:6443/version\": dial tcp 127.0.0.1:6443: connect: connection refused"
)

// demo is the UI's demo fleet, as a platform engineer would find it, held
// by the UI's fakes. acme has acme-prod-1, ready, allowing namespace apps
// (labeled, its credential with excess rights) and one that does not
// exist; acme-canary-1, whose credential the cluster refuses, with a
// display name that is a script; acme-edge-down, ready until a test takes
// it down, with a hostile display name. On acme-prod-1: a succeeded job of
// request req-apps; a job with a Secret, the reference of nextcloud, whose
// ConfigMap another field manager edited; a running job of request
// wiki-apps and one queued behind it; forum's failed job. Events, a parked
// callback and audit entries of acme. globex has globex-1.
type demo struct {
	deps     ui.Deps
	jobs     *ui.FakeJobs
	health   *ui.FakeHealth
	inv      *ui.FakeInventory
	cbs      *ui.FakeCallbacks
	sessions *ui.FakeSessions

	ns                    string
	job, secretJob        string
	running, queued, wiki string // the blocked jobs and their request
	failed                string // forum's job
}

func newDemo() *demo {
	d := &demo{ns: "apps", job: "job-apps-a", secretJob: "secret-apps", running: "wiki-run-apps", queued: "wiki-queued-apps", wiki: "wiki-apps", failed: "forum-apps"}
	now := time.Now().UTC().Truncate(time.Second)
	at := func(ago time.Duration) *time.Time { t := now.Add(-ago); return &t }
	req, wiki := "req-"+d.ns, d.wiki
	configMap := func(status string) apply.ObjectResult {
		return apply.ObjectResult{ObjectRef: apply.ObjectRef{Version: "v1", Kind: "ConfigMap", Namespace: d.ns, Name: "settings"}, Action: apply.ActionCreated, Status: status}
	}
	job := func(id, app string, status jobs.Status, created time.Duration) *jobs.Job {
		return &jobs.Job{ID: id, Organization: "acme", Cluster: "acme-prod-1", Operation: jobs.Operation{Engine: "manifest", Type: "deploy"},
			Application: app, Namespace: d.ns, Action: jobs.ActionApply, Trigger: jobs.TriggerOdoo, TimeoutSeconds: 300, Status: status,
			Attempt: 1, CreatedAt: *at(created), Objects: []apply.ObjectResult{}, Retries: []jobs.Retry{}}
	}
	done := job(d.job, "nextcloud", jobs.Succeeded, 50*time.Minute)
	done.RequestID, done.StartedAt, done.FinishedAt, done.Objects = &req, at(50*time.Minute), at(49*time.Minute), []apply.ObjectResult{configMap("Current")}
	secret := job(d.secretJob, "nextcloud", jobs.Succeeded, 40*time.Minute)
	secret.RequestID, secret.StartedAt, secret.FinishedAt = &req, at(40*time.Minute), at(39*time.Minute)
	secret.Objects = []apply.ObjectResult{configMap("Current"), {ObjectRef: apply.ObjectRef{Version: "v1", Kind: "Secret", Namespace: d.ns, Name: "creds"}, Action: apply.ActionCreated, Status: "Current"}}
	running := job(d.running, "wiki", jobs.Running, 10*time.Minute)
	running.RequestID, running.StartedAt = &wiki, at(10*time.Minute)
	running.Objects = []apply.ObjectResult{{ObjectRef: apply.ObjectRef{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: d.ns, Name: "wiki"}, Action: apply.ActionCreated, Status: "InProgress"}}
	queued := job(d.queued, "wiki", jobs.Queued, 9*time.Minute)
	failed := job(d.failed, "forum", jobs.Failed, 5*time.Minute)
	failed.StartedAt, failed.FinishedAt = at(5*time.Minute), at(4*time.Minute)
	failed.Error = &jobs.Error{Code: "objects_failed", Message: "Application/forum failed: the operator reports it failed"}
	d.jobs = &ui.FakeJobs{
		Jobs: []*jobs.Job{done, secret, running, queued, failed,
			{ID: "globex-job", Organization: "globex", Cluster: "globex-1", Status: jobs.Queued, CreatedAt: now}},
		Stored: map[string]string{d.secretJob: mustJSON(
			map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "settings"}, "data": map[string]string{"k": "v"}},
			map[string]any{"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": "creds"},
				"data": map[string]string{"password": base64.StdEncoding.EncodeToString([]byte(secretValue))}})},
	}

	nsOK := health.NamespaceStatus{Name: d.ns, Exists: true, Labeled: true, RightsOK: true, ExcessRights: []string{"delete pods in " + d.ns}}
	ready := func(checked time.Duration, ns ...health.NamespaceStatus) health.Status {
		return health.Status{Connectivity: health.Connectivity{State: health.StateReady, CheckedAt: at(checked), Breaker: "closed"},
			ServerVersion: "v1.37.2", Credential: health.CredentialInfo{Subject: "system:serviceaccount:kube-system:pushd-admin",
				ExcessRights: []string{"* */* (cluster-wide)"}}, Namespaces: ns}
	}
	d.health = &ui.FakeHealth{Status: map[string]health.Status{
		"acme-prod-1": ready(5*time.Second, nsOK, health.NamespaceStatus{Name: missingNSName}),
		"acme-canary-1": {Connectivity: health.Connectivity{State: health.StateUnauthorized, CheckedAt: at(7 * time.Second), Breaker: "closed",
			Message: "the server has asked for the client to provide credentials"}},
		"acme-edge-down": ready(3*time.Second, nsOK),
		"globex-1":       ready(4 * time.Second),
	}}
	record := func(id, name string, ns ...string) *clusters.Record {
		return &clusters.Record{ID: id, DisplayName: name, Organization: "acme", Connectivity: "direct", AllowedNamespaces: ns,
			AllowedApplications: []string{"nextcloud", "wiki", "forum"}, AllowedOperations: []clusters.Operation{{Engine: "manifest", Type: "deploy"}},
			Drift: clusters.Drift{Schedule: "*/10 * * * *", Mode: "report"}, UpdatedAt: now.Add(-time.Hour)}
	}
	prod := record("acme-prod-1", "Production 1", d.ns, missingNSName)
	prod.Labels = map[string]string{"env": "production"}
	canary := record("acme-canary-1", scriptName, "nextcloud")
	canary.Labels = map[string]string{"env": "staging", "tier": "canary"}
	globex := record("globex-1", "Globex Main", "nextcloud")
	globex.Organization = "globex"

	manager := driftManager
	lastJob := func(j *jobs.Job) *observe.LastJob {
		return &observe.LastJob{ID: j.ID, Action: j.Action, Status: j.Status, Trigger: j.Trigger, FinishedAt: j.FinishedAt}
	}
	nextcloud := observe.Application{Namespace: d.ns, Application: "nextcloud", Health: "Current", Drift: observe.DriftDrifted, Objects: 2,
		LastJob: lastJob(secret), ReferenceJob: lastJob(secret), CheckedAt: at(time.Minute)}
	wikiApp := observe.Application{Namespace: d.ns, Application: "wiki", Health: "InProgress", Drift: observe.DriftUnknown, Objects: 1,
		DriftReason: &observe.DriftReason{Code: observe.DriftReasonJobInProgress, Job: d.running, Message: `job "` + d.running + `" of the application is running`},
		LastJob:     lastJob(running), CheckedAt: at(time.Minute)}
	forum := observe.Application{Namespace: d.ns, Application: "forum", Health: "Failed", Drift: observe.DriftInSync, Objects: 1,
		LastJob: lastJob(failed), ReferenceJob: lastJob(failed), CheckedAt: at(time.Minute)}
	d.inv = &ui.FakeInventory{
		Apps: map[string][]observe.Application{"acme-prod-1": {nextcloud, wikiApp, forum}},
		Details: map[string]*observe.ApplicationDetail{"acme-prod-1/" + d.ns + "/nextcloud": {Namespace: d.ns, Application: "nextcloud", Health: "Current",
			Drift: observe.DriftDrifted, LastJob: nextcloud.LastJob, ReferenceJob: nextcloud.ReferenceJob, CheckedAt: nextcloud.CheckedAt,
			Objects: []observe.Object{
				{Version: "v1", Kind: "ConfigMap", Namespace: d.ns, Name: "settings", Status: "Current", Drifted: true,
					DriftedFields: []observe.DriftedField{{Path: ".data.k", Manager: &manager, ChangedAt: at(2 * time.Minute)}}},
				{Version: "v1", Kind: "Secret", Namespace: d.ns, Name: "creds", Status: "Current"},
			}}},
	}
	d.cbs = &ui.FakeCallbacks{Events: []ui.ParkedEvent{{Event: ui.Event{ID: "evt-parked", Type: jobs.EventStatusChanged, Organization: "acme",
		Cluster: "acme-prod-1", CreatedAt: *at(30 * time.Minute)}, Seq: 1, Attempts: 12, LastError: "Odoo answered 400 Bad Request", ParkedAt: *at(20 * time.Minute)}}}
	d.sessions = &ui.FakeSessions{}
	statusEvent, _ := json.Marshal(done)
	d.deps = ui.Deps{
		Clusters: &ui.FakeClusters{Records: map[string][]*clusters.Record{
			"acme":   {prod, canary, record("acme-edge-down", hostileName, d.ns)},
			"globex": {globex},
		}},
		Health: d.health, Jobs: d.jobs, Manifests: d.jobs, Inventory: d.inv, Callbacks: d.cbs, Sessions: d.sessions,
		Clients: liveObjects{"acme-prod-1": {{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "settings", "namespace": d.ns},
			"data": map[string]any{"k": "bobs-value"}}}},
		Events: &ui.FakeEvents{ByCluster: map[string][]ui.Event{"acme-prod-1": {
			{ID: "evt-2", Type: jobs.EventStatusChanged, Organization: "acme", Cluster: "acme-prod-1", Data: string(statusEvent), CreatedAt: *at(49 * time.Minute)},
			{ID: "evt-1", Type: health.EventConnectivityChanged, Organization: "acme", Cluster: "acme-prod-1", Data: `{"state":"ready","previous_state":"no_credentials"}`, CreatedAt: *at(time.Hour)},
			{ID: "evt-0", Type: health.EventConnectivityChanged, Organization: "globex", Cluster: "acme-prod-1", Data: `{"state":"ready","message":"Globex Main's"}`, CreatedAt: *at(2 * time.Hour)},
		}}},
		Audit: &ui.FakeAuditLog{Entries: []ui.AuditEntry{
			{Seq: 1, At: *at(time.Hour), Organization: "acme", ActorKind: "webhook", ActorID: "abcd1234", Action: "record.written", Cluster: "acme-edge-down", Outcome: api.AuditOK, Status: 201},
			{Seq: 2, At: *at(time.Minute), Organization: "acme", ActorKind: "ui", ActorID: "ef567890", Action: api.AuditUILogin, Subject: "token:0a1b2c3d", Outcome: api.AuditOK, Status: 303},
			{Seq: 3, At: *at(time.Minute), Organization: "globex", ActorKind: "webhook", ActorID: "99999999", Action: "record.written", Cluster: "globex-1", Outcome: api.AuditOK, Status: 201},
		}},
	}
	return d
}

func mustJSON(v ...any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// liveObjects are the objects of each cluster, by cluster id, as the
// application page reads them live (ui.Clients).
type liveObjects map[string][]map[string]any

func (l liveObjects) Clients(id string) (*clusters.Clients, error) {
	mapper := meta.NewDefaultRESTMapper(nil)
	var objs []runtime.Object
	for _, o := range l[id] {
		u := &unstructured.Unstructured{Object: o}
		gvk := u.GroupVersionKind()
		mapper.Add(gvk, meta.RESTScopeNamespace)
		objs = append(objs, u)
	}
	gvrs := map[schema.GroupVersionResource]string{}
	for _, o := range objs {
		gvk := o.GetObjectKind().GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return nil, err
		}
		gvrs[m.Resource] = gvk.Kind + "List"
	}
	return &clusters.Clients{ClusterID: id, Mapper: resettable{mapper},
		Dynamic: dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), gvrs, objs...)}, nil
}

type resettable struct{ meta.RESTMapper }

func (resettable) Reset() {}

// site is deps mounted in a bare API server (tokens and webhook secrets of
// acme and globex, no database, no cluster) as pushd serve mounts the UI,
// with the log of both.
type site struct {
	url  string
	logs *logbuf.Buffer
}

func serve(t *testing.T, deps ui.Deps, opts api.Options) *site {
	t.Helper()
	auth, err := api.NewAuthenticator(
		[]config.Credential{{Organization: "acme", Value: acmeSecret}, {Organization: "globex", Value: globexSecret}},
		[]config.Credential{{Organization: "acme", Value: acmeToken}, {Organization: "globex", Value: globexToken}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	logs := &logbuf.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if opts.Logger == nil {
		opts.Logger = log
	}
	srv := api.New(api.Deps{Auth: auth}, opts)
	deps.Front, deps.Auth = srv, auth
	srv.Mount("/ui", ui.New(deps, ui.Options{Logger: log}))
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return &site{url: ts.URL, logs: logs}
}

// page is an answer with its body read.
type page struct {
	status int
	header http.Header
	body   string
}

// client is a browser-like client of a site: it keeps cookies and does not
// follow redirects, so tests see each answer.
type client struct {
	t    *testing.T
	site *site
	c    *http.Client
}

func (s *site) client(t *testing.T) *client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &client{t: t, site: s, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (c *client) do(req *http.Request) page {
	c.t.Helper()
	resp, err := c.c.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return page{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func (c *client) get(path string) page {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodGet, c.site.url+path, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	return c.do(req)
}

func (c *client) post(path string, form url.Values) page {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.site.url+path, strings.NewReader(form.Encode()))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req)
}

func (c *client) login(token string) page {
	c.t.Helper()
	return c.post("/ui/login", url.Values{"token": {token}})
}

// act posts an action with form and the anti-forgery token, and fails
// unless it answers a redirect to location (post/redirect/get).
func (c *client) act(path, token string, form url.Values, location string) {
	c.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf", token)
	if p := c.post(path, form); p.status != http.StatusSeeOther || p.header.Get("Location") != location {
		c.t.Fatalf("%s: %d %v %s, want a redirect to %s", path, p.status, p.header, p.body, location)
	}
}

// loggedIn is a client of s with a session of token's organization.
func (s *site) loggedIn(t *testing.T, token string) *client {
	t.Helper()
	c := s.client(t)
	if p := c.login(token); p.status != http.StatusSeeOther || p.header.Get("Location") != "/ui/" {
		t.Fatalf("login: %d %v", p.status, p.header)
	}
	return c
}

// acmeOnDemo serves the demo fleet with the default options and logs a
// client of acme in: where the page and action tests start.
func acmeOnDemo(t *testing.T) (*demo, *site, *client) {
	t.Helper()
	d := newDemo()
	s := serve(t, d.deps, api.Options{})
	return d, s, s.loggedIn(t, acmeToken)
}

// csrf is the session's anti-forgery token, as the fleet page's forms carry it.
func (c *client) csrf() string {
	c.t.Helper()
	p := c.get("/ui/")
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(p.body)
	if m == nil {
		c.t.Fatalf("no anti-forgery token in the fleet page (%d):\n%s", p.status, p.body)
	}
	return m[1]
}

// mustContain fails unless body holds every want.
func mustContain(t *testing.T, what string, p page, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(p.body, w) {
			t.Errorf("%s does not contain %q:\n%s", what, w, p.body)
		}
	}
}

func mustNotContain(t *testing.T, what string, p page, unwanted ...string) {
	t.Helper()
	for _, w := range unwanted {
		if strings.Contains(p.body, w) {
			t.Errorf("%s contains %q", what, w)
		}
	}
}
