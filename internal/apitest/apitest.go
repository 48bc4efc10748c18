// Package apitest is pushd's API wired as `pushd serve` wires it, on one test
// database, and a signed client of it, for the tests that drive the API over
// HTTP: pkg/api's, on a fake cluster, and test/api's, on the test bed. Which
// cluster the API reaches is the caller's (Wiring), so this package starts
// no test bed and pkg/api's tests build none.
package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/vworkspace/pushd/internal/contracttest"
	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/internal/fleettest"
	"github.com/vworkspace/pushd/internal/logbuf"
	"github.com/vworkspace/pushd/pkg/api"
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/config"
	"github.com/vworkspace/pushd/pkg/fleet"
	"github.com/vworkspace/pushd/pkg/jobs"
	"github.com/vworkspace/pushd/pkg/observe"
	"github.com/vworkspace/pushd/pkg/store"
	"github.com/vworkspace/pushd/pkg/ui"
	"github.com/vworkspace/pushd/pkg/ui/uistore"
	"github.com/vworkspace/pushd/pkg/webhook"
)

// Two organizations, each with its own webhook secret and read token.
const (
	AcmeSecret   = "whsec_YWNtZS1zZWNyZXQta2V5LWZvci10ZXN0cw=="
	GlobexSecret = "whsec_Z2xvYmV4LXNlY3JldC1rZXktZm9yLXRlc3Rz"
	AcmeToken    = "acme-read-token-0123456789abcdef"
	GlobexToken  = "globex-read-token-0123456789abcd"
)

// Env is a pushd API wired like `pushd serve` wires it, on one database,
// with its cluster.
type Env struct {
	URL     string
	Store   *store.Store
	Creds   *clusters.CredentialStore
	Logs    *logbuf.Buffer // every log line of the server, debug included
	Now     time.Time      // the clock requests are signed with
	Cluster Cluster
}

// Cluster is where an Env's jobs run and what its probes see.
type Cluster interface {
	// Server is the API server's URL and CA (PEM) a kubeconfig names.
	Server() (url string, ca []byte)
	// AdminToken is a cluster-admin's bearer token.
	AdminToken() string
	// Admin is a cluster-admin's client, to set the cluster up and look at it.
	Admin(t *testing.T) kubernetes.Interface
}

// Option adds to the server's collaborators; ctx lives as long as the Env.
type Option func(ctx context.Context, deps *api.Deps)

// Wiring is what an Env's services reach clusters through.
type Wiring struct {
	Cluster  Cluster
	Clusters interface {
		jobs.Clusters
		observe.Clusters
		ui.Clients
	}
	Health interface {
		api.ClusterHealth
		fleet.Health
		jobs.Monitor
	}
	Engines jobs.Engines
}

// New is the API on db, its clusters reached through what wire returns for
// the fleet (store, credentials, registry, monitor) it is given; the job
// runner and the watcher run until the test ends.
func New(t *testing.T, db dbtest.Database, wire func(*testing.T, *fleettest.Fleet) Wiring, opts ...Option) *Env {
	t.Helper()
	logs := &logbuf.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f := fleettest.New(t, db, fleettest.Options{Store: store.Options{Logger: log}, Logger: log})
	w := wire(t, f)
	auth, err := api.NewAuthenticator(
		[]config.Credential{{Organization: "acme", Value: AcmeSecret}, {Organization: "globex", Value: GlobexSecret}},
		[]config.Credential{{Organization: "acme", Value: AcmeToken}, {Organization: "globex", Value: GlobexToken}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	runner := jobs.NewRunner(f.Store, w.Clusters, w.Engines, w.Health,
		jobs.RunnerOptions{Poll: 100 * time.Millisecond, Lease: 5 * time.Second, Logger: log, RetryBackoff: 500 * time.Millisecond})
	svc := jobs.NewService(f.Store, w.Clusters, w.Health, jobs.ServiceOptions{Notify: runner.Notify})
	watcher := observe.NewWatcher(f.Store, w.Clusters, w.Health, observe.Options{PollInterval: 500 * time.Millisecond, Corrector: svc, Logger: log})
	wg.Go(func() { runner.Run(runCtx) })
	wg.Go(func() { watcher.Run(runCtx) })
	deps := api.Deps{Auth: auth, Store: f.Store, Clusters: f.Registry, Health: w.Health, Jobs: svc, Inventory: watcher,
		Fleet: fleet.New(f.Registry, w.Health, svc, fleet.Options{Observations: watcher})}
	for _, o := range opts {
		o(runCtx, &deps)
	}
	// The UI mounted as pushd serve mounts it: the UI's own tests are in
	// pkg/ui; these see it as a client of the whole server does.
	s := api.New(deps, api.Options{Logger: log, MaxBodyBytes: 64 << 10})
	uiStore := uistore.New(f.Store)
	uiDeps := ui.Deps{Front: s, Auth: auth, Clusters: deps.Clusters, Health: deps.Health, Jobs: svc, Manifests: svc, Clients: w.Clusters,
		Inventory: watcher, Events: uiStore, Audit: uiStore, Sessions: uiStore}
	if deps.Callbacks != nil {
		uiDeps.Callbacks = uistore.Callbacks{Outbox: deps.Callbacks}
	}
	s.Mount("/ui", ui.New(uiDeps, ui.Options{Logger: log}))
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return &Env{URL: srv.URL, Store: f.Store, Creds: f.Creds, Logs: logs, Now: time.Now(), Cluster: w.Cluster}
}

// Response is an answer with its body read.
type Response struct {
	Status int
	Body   []byte
	Header http.Header
}

// JSON is the answer's body as a JSON object, failing the test otherwise.
func (r Response) JSON(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body %q: %v", r.Body, err)
	}
	return m
}

// Code is the error code of an error answer.
func (r Response) Code(t *testing.T) string {
	t.Helper()
	e, _ := r.JSON(t)["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

// Do sends req with the default client; see DoWith.
func Do(t *testing.T, req *http.Request) Response { return DoWith(t, http.DefaultClient, req) }

// DoWith sends req with c and checks the answer against the contract.
func DoWith(t *testing.T, c *http.Client, req *http.Request) Response {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	contracttest.Check(t, req, resp.StatusCode, resp.Header, b)
	return Response{Status: resp.StatusCode, Body: b, Header: resp.Header}
}

// Signed sends a write signed with secret (none when empty) under message
// id msgID at time ts.
func (e *Env) Signed(t *testing.T, method, path, secret, msgID string, ts time.Time, body []byte) Response {
	t.Helper()
	req, err := http.NewRequest(method, e.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if secret != "" {
		s, err := webhook.ParseSecret(secret)
		if err != nil {
			t.Fatal(err)
		}
		s.SetHeaders(req.Header, msgID, ts, webhook.Bound(method, req.URL.RequestURI(), body))
	}
	return Do(t, req)
}

var msgSeq atomic.Int64

// Write signs a write with secret, now, under a fresh message id.
func (e *Env) Write(t *testing.T, method, path, secret string, body []byte) Response {
	t.Helper()
	return e.Signed(t, method, path, secret, fmt.Sprintf("msg-%d-%d", time.Now().UnixNano(), msgSeq.Add(1)), time.Now(), body)
}

// Read is a GET with token (none when empty).
func (e *Env) Read(t *testing.T, path, token string) Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return Do(t, req)
}

// WaitFinal polls acme's job id until it is final (within a minute) and
// returns its answer.
func (e *Env) WaitFinal(t *testing.T, id string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		j := e.Read(t, "/api/v1/jobs/"+id, AcmeToken).JSON(t)
		if st := j["status"]; st == "succeeded" || st == "failed" || st == "cancelled" {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s did not finish: %v", id, j)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// MustJSON is v encoded, failing the test if it cannot be.
func MustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Kubeconfig renders a kubeconfig for e's cluster with token and lets
// mutate change it first.
func (e *Env) Kubeconfig(t *testing.T, token string, mutate func(*clientcmdapi.Config)) []byte {
	t.Helper()
	server, ca := e.Cluster.Server()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["c"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	cfg.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["ctx"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	cfg.CurrentContext = "ctx"
	if mutate != nil {
		mutate(cfg)
	}
	b, err := clientcmd.Write(*cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Record is a cluster record's body: namespaces allowed, application
// nextcloud and operation manifest/deploy, drift reported every ten minutes.
func Record(namespaces ...string) map[string]any {
	return map[string]any{
		"display_name":         "Production 1",
		"labels":               map[string]string{"env": "production"},
		"connectivity":         "push",
		"allowed_namespaces":   namespaces,
		"allowed_applications": []string{"nextcloud"},
		"allowed_operations":   []map[string]string{{"engine": "manifest", "type": "deploy"}},
		"drift":                map[string]string{"schedule": "*/10 * * * *", "mode": "report"},
	}
}

// ManagedNamespace creates namespace name on c, labeled for pushd (and
// with labels), as an operator would.
func ManagedNamespace(t *testing.T, c Cluster, name string, labels map[string]string) {
	t.Helper()
	l := map[string]string{clusters.ManagedNamespaceLabel: clusters.ManagedNamespaceValue}
	maps.Copy(l, labels)
	if _, err := c.Admin(t).CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}},
		metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// JobFixture registers cluster acme-prod-1 (acme) allowed to deploy
// nextcloud into a fresh managed namespace, with the cluster's admin
// credential, and returns the namespace and a builder of valid job bodies
// (a ConfigMap each, a new id each), which edit may change.
func JobFixture(t *testing.T, e *Env) (ns string, job func(edit func(map[string]any)) []byte) {
	t.Helper()
	ns = "jobs-" + fleettest.RandomID()
	ManagedNamespace(t, e.Cluster, ns, nil)
	rec := Record(ns)
	rec["accept_excess_rights"] = true // the kubeconfig below is the cluster's admin token
	if r := e.Write(t, http.MethodPut, "/api/v1/clusters/acme-prod-1", AcmeSecret, MustJSON(t, rec)); r.Status != http.StatusCreated {
		t.Fatalf("cluster: %d %s", r.Status, r.Body)
	}
	if r := e.Write(t, http.MethodPut, "/api/v1/clusters/acme-prod-1/kubeconfig", AcmeSecret, e.Kubeconfig(t, e.Cluster.AdminToken(), nil)); r.Status != http.StatusOK {
		t.Fatalf("kubeconfig: %d %s", r.Status, r.Body)
	}
	seq := 0
	return ns, func(edit func(map[string]any)) []byte {
		seq++
		j := map[string]any{
			"id": "job-" + ns + "-" + string(rune('a'+seq)), "cluster": "acme-prod-1", "request_id": "req-" + ns,
			"operation":   map[string]string{"engine": "manifest", "type": "deploy"},
			"application": "nextcloud", "namespace": ns, "action": "apply", "timeout_seconds": 30,
			"manifests": []any{map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "settings"}, "data": map[string]string{"k": "v"}}},
		}
		if edit != nil {
			edit(j)
		}
		return MustJSON(t, j)
	}
}
