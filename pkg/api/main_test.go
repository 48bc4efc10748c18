package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

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

func TestMain(m *testing.M) { fleettest.Main(m, bed) }

// Two organizations, each with its own webhook secret and read token.
const (
	acmeSecret   = "whsec_YWNtZS1zZWNyZXQta2V5LWZvci10ZXN0cw=="
	globexSecret = "whsec_Z2xvYmV4LXNlY3JldC1rZXktZm9yLXRlc3Rz"
	acmeToken    = "acme-read-token-0123456789abcdef"
	globexToken  = "globex-read-token-0123456789abcd"
)

// env is a pushd API wired like `pushd serve` wires it, on one database,
// with its clusters: the fake one (newEnv) or the test bed's
// (newClusterEnv, cluster_test.go).
type env struct {
	url     string
	store   *store.Store
	creds   *clusters.CredentialStore
	logs    *logbuf.Buffer
	now     time.Time // the clock requests are signed with
	cluster testCluster
}

// envOption adds to the server's collaborators; ctx lives as long as the env.
type envOption func(ctx context.Context, deps *api.Deps)

// newEnv is the API on the fake cluster: probes, jobs and the watcher's
// reads reach nothing outside the test.
func newEnv(t *testing.T, db dbtest.Database, opts ...envOption) *env {
	t.Helper()
	return build(t, db, func(t *testing.T, f *fleettest.Fleet) wiring {
		fc := newFakeCluster(t, f.Registry)
		return wiring{cluster: fc, clusters: fc, health: fc, engines: fc}
	}, opts...)
}

// wiring is what an env's services reach clusters through.
type wiring struct {
	cluster  testCluster
	clusters interface {
		jobs.Clusters
		observe.Clusters
		ui.Clients
	}
	health interface {
		api.ClusterHealth
		fleet.Health
		jobs.Monitor
	}
	engines jobs.Engines
}

func build(t *testing.T, db dbtest.Database, wire func(*testing.T, *fleettest.Fleet) wiring, opts ...envOption) *env {
	t.Helper()
	logs := &logbuf.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f := fleettest.New(t, db, fleettest.Options{Store: store.Options{Logger: log}, Logger: log})
	w := wire(t, f)
	auth, err := api.NewAuthenticator(
		[]config.Credential{{Organization: "acme", Value: acmeSecret}, {Organization: "globex", Value: globexSecret}},
		[]config.Credential{{Organization: "acme", Value: acmeToken}, {Organization: "globex", Value: globexToken}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	runner := jobs.NewRunner(f.Store, w.clusters, w.engines, w.health,
		jobs.RunnerOptions{Poll: 100 * time.Millisecond, Lease: 5 * time.Second, Logger: log, RetryBackoff: 500 * time.Millisecond})
	svc := jobs.NewService(f.Store, w.clusters, w.health, jobs.ServiceOptions{Notify: runner.Notify})
	watcher := observe.NewWatcher(f.Store, w.clusters, w.health, observe.Options{PollInterval: 500 * time.Millisecond, Corrector: svc, Logger: log})
	wg.Go(func() { runner.Run(runCtx) })
	wg.Go(func() { watcher.Run(runCtx) })
	deps := api.Deps{Auth: auth, Store: f.Store, Clusters: f.Registry, Health: w.health, Jobs: svc, Inventory: watcher,
		Fleet: fleet.New(f.Registry, w.health, svc, fleet.Options{Observations: watcher})}
	for _, o := range opts {
		o(runCtx, &deps)
	}
	// The UI mounted as pushd serve mounts it: the UI's own tests are in
	// pkg/ui; these see it as a client of the whole server does.
	s := api.New(deps, api.Options{Logger: log, MaxBodyBytes: 64 << 10})
	uiStore := uistore.New(f.Store)
	uiDeps := ui.Deps{Front: s, Auth: auth, Clusters: deps.Clusters, Health: deps.Health, Jobs: svc, Manifests: svc, Clients: w.clusters,
		Inventory: watcher, Events: uiStore, Audit: uiStore, Sessions: uiStore}
	if deps.Callbacks != nil {
		uiDeps.Callbacks = uistore.Callbacks{Outbox: deps.Callbacks}
	}
	s.Mount("/ui", ui.New(uiDeps, ui.Options{Logger: log}))
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return &env{url: srv.URL, store: f.Store, creds: f.Creds, logs: logs, now: time.Now(), cluster: w.cluster}
}

// response is an answer with its body read.
type response struct {
	status int
	body   []byte
	header http.Header
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return m
}

// code is the error code of an error answer.
func (r response) code(t *testing.T) string {
	t.Helper()
	e, _ := r.json(t)["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func do(t *testing.T, req *http.Request) response {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	contracttest.Check(t, req, resp.StatusCode, resp.Header, b)
	return response{status: resp.StatusCode, body: b, header: resp.Header}
}

// signed sends a write signed with secret under message id msgID at time ts.
func (e *env) signed(t *testing.T, method, path, secret, msgID string, ts time.Time, body []byte) response {
	t.Helper()
	req, err := http.NewRequest(method, e.url+path, bytes.NewReader(body))
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
	return do(t, req)
}

var msgSeq int

// write signs a write as acme (or org's secret) with a fresh message id.
func (e *env) write(t *testing.T, method, path, secret string, body []byte) response {
	t.Helper()
	msgSeq++
	return e.signed(t, method, path, secret, fmt.Sprintf("msg-%d-%d", time.Now().UnixNano(), msgSeq), time.Now(), body)
}

func (e *env) read(t *testing.T, path, token string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return do(t, req)
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
