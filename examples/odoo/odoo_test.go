// Package odoo_test proves the Python client of examples/odoo — Odoo's side
// of the contract in the standard library alone — and pushd understand each
// other: pushd accepts Python's Standard Webhooks signatures and tokens, and
// Python accepts pushd's signed callbacks and refuses tampered ones.
package odoo_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/internal/fleettest"
	"github.com/vworkspace/pushd/pkg/api"
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/config"
	"github.com/vworkspace/pushd/pkg/fleet"
	"github.com/vworkspace/pushd/pkg/jobs"
	"github.com/vworkspace/pushd/pkg/outbox"
	"github.com/vworkspace/pushd/pkg/store"
	"github.com/vworkspace/pushd/pkg/webhook"
)

const (
	webhookSecret  = "whsec_b2Rvby13cml0ZXMtc2lnbmluZy1zZWNyZXQ=" // Odoo signs its writes with it
	apiToken       = "odoo-read-token-0123456789abcdefg"
	callbackSecret = "whsec_cHVzaGQtY2FsbGJhY2stc2lnbmluZy1zZWNyZXQ=" // pushd signs its callbacks with it
	organization   = "acme"
)

// python3 is the interpreter, or the test is skipped — never under CI=true,
// where a missing python3 fails it.
func python3(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("python3 is required under CI: ", err)
		}
		t.Skip("python3 not found: ", err)
	}
	return p
}

// pushd is an API server wired from the same real components `pushd serve`
// wires, on a fresh SQLite database.
type pushd struct {
	url   string
	store *store.Store
	creds *clusters.CredentialStore
}

func startPushd(t *testing.T) *pushd {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	f := fleettest.New(t, dbtest.Database{Driver: "sqlite", DSN: filepath.Join(t.TempDir(), "pushd.db")}, fleettest.Options{Logger: log})
	auth, err := api.NewAuthenticator(
		[]config.Credential{{Organization: organization, Value: webhookSecret}},
		[]config.Credential{{Organization: organization, Value: apiToken}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	svc := jobs.NewService(f.Store, f.Registry, f.Monitor, jobs.ServiceOptions{}) // no runner: submitted jobs stay queued
	fl := fleet.New(f.Registry, f.Monitor, svc, fleet.Options{})
	srv := httptest.NewServer(api.New(api.Deps{Auth: auth, Store: f.Store, Clusters: f.Registry, Health: f.Monitor, Jobs: svc, Fleet: fl}, api.Options{Logger: log}))
	t.Cleanup(srv.Close)
	return &pushd{url: srv.URL, store: f.Store, creds: f.Creds}
}

// client runs pushd_client.py with args against p; it returns stdout, stderr and the exit code.
func (p *pushd) client(t *testing.T, env []string, args ...string) (stdout []byte, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, python3(t), append([]string{"pushd_client.py"}, args...)...)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1", "PUSHD_URL="+p.url,
		"PUSHD_WEBHOOK_SECRET="+webhookSecret, "PUSHD_API_TOKEN="+apiToken)
	cmd.Env = append(cmd.Env, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("python3 pushd_client.py %v: %v\n%s", args, err, errb.String())
	}
	return out.Bytes(), errb.String(), code
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("output %q: %v", b, err)
	}
	return m
}

// Odoo's side in Python against pushd in Go, both ways: pushd accepts what
// Python signs; Python accepts what pushd signs and refuses what it should.
func TestOdooInPython(t *testing.T) {
	python3(t)
	p := startPushd(t)

	t.Run("Python's signed PUT creates a cluster record", func(t *testing.T) {
		out, stderr, code := p.client(t, nil, "put-cluster", "prod-1",
			"--namespaces", "nextcloud,mattermost", "--applications", "nextcloud",
			"--operations", "manifest/deploy,velero/backup", "--label", "env=production",
			"--display-name", "Production 1", "--drift-schedule", "*/10 * * * *", "--drift-mode", "report")
		if code != 0 || !strings.Contains(stderr, "HTTP 201") {
			t.Fatalf("exit %d, %s%s", code, stderr, out)
		}
		if rec := decode(t, out); rec["id"] != "prod-1" || rec["organization"] != organization {
			t.Fatalf("record: %s", out)
		}
	})

	t.Run("pushd refuses a write signed with another secret", func(t *testing.T) {
		out, stderr, code := p.client(t, []string{"PUSHD_WEBHOOK_SECRET=whsec_bm90LXRoZS1zZWNyZXQ="}, "put-cluster", "prod-2", "--namespaces", "a")
		if code != 1 || !strings.Contains(stderr, "HTTP 401") {
			t.Fatalf("exit %d, %s%s", code, stderr, out)
		}
	})

	t.Run("Python reads the record back with its token", func(t *testing.T) {
		out, stderr, code := p.client(t, nil, "get", "/api/v1/clusters/prod-1")
		if code != 0 || !strings.Contains(stderr, "HTTP 200") {
			t.Fatalf("exit %d, %s%s", code, stderr, out)
		}
		rec := decode(t, out)
		if rec["display_name"] != "Production 1" || !strings.Contains(string(out), `"mattermost"`) {
			t.Fatalf("record: %s", out)
		}
		if _, stderr, code := p.client(t, []string{"PUSHD_API_TOKEN=wrong"}, "get", "/api/v1/clusters/prod-1"); code != 1 || !strings.Contains(stderr, "HTTP 401") {
			t.Fatalf("wrong token: exit %d, %s", code, stderr)
		}
	})

	t.Run("Python submits a job", func(t *testing.T) {
		giveCredential(t, p, "prod-1")
		job := filepath.Join(t.TempDir(), "job.json")
		os.WriteFile(job, []byte(`{
			"id": "job-odoo-1", "cluster": "prod-1", "request_id": "fleet-1",
			"operation": {"engine": "manifest", "type": "deploy"},
			"application": "nextcloud", "namespace": "nextcloud", "action": "apply",
			"manifests": [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "nextcloud-config"}, "data": {"k": "v"}}],
			"timeout_seconds": 300}`), 0o600)
		out, stderr, code := p.client(t, nil, "submit-job", job)
		if code != 0 || !strings.Contains(stderr, "HTTP 202") {
			t.Fatalf("exit %d, %s%s", code, stderr, out)
		}
		if j := decode(t, out); j["id"] != "job-odoo-1" || j["status"] != "queued" {
			t.Fatalf("job: %s", out)
		}
		out, _, _ = p.client(t, nil, "get", "/api/v1/jobs/job-odoo-1")
		if j := decode(t, out); j["status"] != "queued" {
			t.Fatalf("job: %s", out)
		}
		out, stderr, code = p.client(t, nil, "cancel-job", "job-odoo-1")
		if j := decode(t, out); code != 0 || j["status"] != "cancelled" {
			t.Fatalf("cancel: exit %d, %s%s", code, stderr, out)
		}
	})

	t.Run("Python's signed YAML body reaches the kubeconfig rules", func(t *testing.T) {
		kubeconfig := filepath.Join(t.TempDir(), "prod-1.kubeconfig")
		os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: abc}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`), 0o600)
		out, stderr, code := p.client(t, nil, "put-kubeconfig", "prod-1", kubeconfig)
		if e, _ := decode(t, out)["error"].(map[string]any); code != 1 || !strings.Contains(stderr, "HTTP 422") || e["code"] != "kubeconfig_rejected" {
			t.Fatalf("exit %d, %s%s", code, stderr, out)
		}
	})

	recv := startReceiver(t, p)

	t.Run("Python's receiver verifies pkg/webhook signatures", func(t *testing.T) {
		key, _ := webhook.ParseSecret(callbackSecret)
		other, _ := webhook.ParseSecret("whsec_bm90LXRoZS1zZWNyZXQ=")
		body := []byte(`{"type":"drift.detected","id":"evt_go_1","timestamp":"2026-05-04T10:15:30Z","organization":"acme","cluster":"prod-1","data":{"namespace":"nextcloud"}}`)
		now := time.Now()
		tests := []struct {
			name   string
			secret webhook.Secret
			ts     time.Time
			body   []byte // what is sent; the signature is always over body above
			want   int
		}{
			{name: "valid", secret: key, ts: now, body: body, want: http.StatusNoContent},
			{name: "retry of the same id", secret: key, ts: now, body: body, want: http.StatusNoContent},
			{name: "tampered body", secret: key, ts: now, body: bytes.Replace(body, []byte("prod-1"), []byte("prod-2"), 1), want: http.StatusUnauthorized},
			{name: "another secret", secret: other, ts: now, body: body, want: http.StatusUnauthorized},
			{name: "stale", secret: key, ts: now.Add(-310 * time.Second), body: body, want: http.StatusUnauthorized},
			{name: "from the future", secret: key, ts: now.Add(310 * time.Second), body: body, want: http.StatusUnauthorized},
		}
		for _, tt := range tests {
			req, _ := http.NewRequest(http.MethodPost, recv.url, bytes.NewReader(tt.body))
			tt.secret.SetHeaders(req.Header, "evt_go_1", tt.ts, body)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("%s: %d, want %d", tt.name, resp.StatusCode, tt.want)
			}
		}
		unsigned, _ := http.Post(recv.url, "application/json", bytes.NewReader(body))
		if unsigned.StatusCode != http.StatusUnauthorized {
			t.Errorf("unsigned: %d, want 401", unsigned.StatusCode)
		}
		unsigned.Body.Close()
		if ev := recv.next(t); ev["id"] != "evt_go_1" || ev["cluster"] != "prod-1" {
			t.Fatalf("printed %v", ev)
		}
	})

	t.Run("the outbox delivers the job's events to Python, in order", func(t *testing.T) {
		key, _ := webhook.ParseSecret(callbackSecret)
		d := outbox.New(p.store, recv.url, key, outbox.Options{PollInterval: 20 * time.Millisecond})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { d.Run(ctx); close(done) }()
		defer func() { cancel(); <-done }()
		// The retry and the refused callbacks above were not printed: what
		// comes next is the job's events, in the order they happened.
		for _, status := range []string{"queued", "cancelled"} {
			ev := recv.next(t)
			data, _ := ev["data"].(map[string]any)
			if ev["type"] != "job.status_changed" || ev["cluster"] != "prod-1" || ev["organization"] != organization ||
				data["id"] != "job-odoo-1" || data["status"] != status {
				t.Fatalf("want the job %s, printed %v", status, ev)
			}
		}
	})
}

// The Python side's own unit tests (the specification's signature vector,
// every way a callback is refused) run here too, so CI runs them.
func TestPythonUnitTests(t *testing.T) {
	cmd := exec.Command(python3(t), "-m", "unittest", "-v", "test_pushd_client")
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
}

// giveCredential stores a credential for cluster that points at a TLS server
// answering 404 to everything: enough for a job to pass intake (it is never run).
func giveCredential(t *testing.T, p *pushd, cluster string) {
	t.Helper()
	apiserver := httptest.NewTLSServer(http.NotFoundHandler())
	t.Cleanup(apiserver.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: apiserver.Certificate().Raw})
	if err := p.creds.Save(cluster, &clusters.Credential{Server: apiserver.URL, CAData: ca, Token: "not-a-real-token"}); err != nil {
		t.Fatal(err)
	}
}

// receiver is `pushd_client.py serve-callbacks` running, with the events it printed.
type receiver struct {
	url    string
	events chan map[string]any
}

func startReceiver(t *testing.T, p *pushd) *receiver {
	t.Helper()
	cmd := exec.Command(python3(t), "pushd_client.py", "serve-callbacks", "--port", "0")
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1", "PUSHD_CALLBACK_SECRET="+callbackSecret)
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cmd.Process.Kill()
		wg.Wait()
		cmd.Wait()
	})
	r := &receiver{events: make(chan map[string]any, 100)}
	addr := make(chan string, 1)
	wg.Go(func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "serving callbacks on "); ok {
				addr <- u
			}
		}
	})
	wg.Go(func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var ev map[string]any
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				t.Errorf("receiver printed %q: %v", sc.Text(), err)
				continue
			}
			r.events <- ev
		}
		io.Copy(io.Discard, stdout)
	})
	select {
	case r.url = <-addr:
	case <-time.After(30 * time.Second):
		t.Fatal("serve-callbacks did not start")
	}
	return r
}

// next is the next event the receiver printed.
func (r *receiver) next(t *testing.T) map[string]any {
	t.Helper()
	select {
	case ev := <-r.events:
		return ev
	case <-time.After(30 * time.Second):
		t.Fatal("no event printed")
		return nil
	}
}
