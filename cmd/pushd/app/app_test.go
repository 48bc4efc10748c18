package app

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/internal/fleettest"
	"github.com/vworkspace/pushd/internal/testbed"
)

// bed starts when a test first asks for its clusters.
var bed = fleettest.LazyBed(testbed.Options{Clusters: 1})

func TestMain(m *testing.M) { fleettest.Main(m, bed) }

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func get(t *testing.T, url string) (int, string) { t.Helper(); return getWith(t, url, "") }

// getWith GETs url with a bearer token (none when empty).
func getWith(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return send(t, req)
}

// send sends req and returns the answer's status and body.
func send(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// started is a pushd running the real CLI in the background.
type started struct {
	base           string // http://addr
	stdout, stderr *bytes.Buffer
	cancel         context.CancelFunc
	done           chan int
}

// startPushd runs Run with args plus --listen on a free port and waits until
// /healthz answers.
func startPushd(t *testing.T, args []string, environ map[string]string) *started {
	t.Helper()
	addr := fleettest.FreeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	p := &started{base: "http://" + addr, stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, cancel: cancel, done: make(chan int, 1)}
	go func() { p.done <- Run(ctx, append(args, "--listen", addr), env(environ), p.stdout, p.stderr) }()
	t.Cleanup(func() { p.stop(t) })
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := http.Get(p.base + "/healthz"); err == nil {
			resp.Body.Close()
			return p
		}
		select {
		case code := <-p.done:
			t.Fatalf("pushd exited with %d: %s", code, p.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("pushd did not start: %s", p.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends pushd as SIGTERM would and returns its exit code.
func (p *started) stop(t *testing.T) int {
	t.Helper()
	p.cancel()
	select {
	case code := <-p.done:
		p.done <- code // later calls see it too
		return code
	case <-time.After(30 * time.Second):
		t.Fatal("pushd did not stop after its context ended")
		return -1
	}
}

// TestServeLifecycle runs the real CLI on each database: it migrates, serves
// the operations endpoints and stops cleanly when its context ends.
func TestServeLifecycle(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		url := db.Driver + "://" + db.DSN
		if db.Driver == "postgres" {
			url = db.DSN
		}
		const metricsToken = "lifecycle-metrics-token-0123456789abcdef"
		p := startPushd(t, []string{"serve", "--kubeconfig-dir", t.TempDir()},
			map[string]string{"PUSHD_DATABASE_URL": url, "PUSHD_LOG_FORMAT": "json", "PUSHD_METRICS_TOKEN": metricsToken})
		base := p.base
		if code, body := get(t, base+"/readyz"); code != http.StatusOK {
			t.Fatalf("/readyz = %d %s", code, body)
		}
		if code, body := get(t, base+"/metrics"); code != http.StatusUnauthorized || strings.Contains(body, "pushd_http_requests_total") {
			t.Fatalf("anonymous /metrics = %d, want 401:\n%.300s", code, body)
		}
		if code, body := getWith(t, base+"/metrics", metricsToken); code != http.StatusOK || !strings.Contains(body, `pushd_http_requests_total{code="200",method="GET",route="/readyz"} 1`) {
			t.Fatalf("/metrics = %d, want the /readyz request counted:\n%s", code, body)
		}
		if code, body := get(t, base+"/nope"); code != http.StatusNotFound || !strings.Contains(body, `"code":"not_found"`) {
			t.Fatalf("/nope = %d %s, want a 404 in the error format", code, body)
		}
		if code := p.stop(t); code != 0 {
			t.Fatalf("exit code %d: %s", code, p.stderr)
		}
		if !strings.Contains(p.stderr.String(), `"msg":"pushd stopped"`) {
			t.Errorf("want JSON logs ending with a stop line, got:\n%s", p.stderr)
		}
	})
}

// A scraper that cannot hold a token reads the metrics on an address of
// their own (PUSHD_METRICS_LISTEN: loopback, or a pod port only Prometheus
// reaches), which serves /metrics and nothing else; the API's listener still
// refuses an anonymous scrape.
func TestMetricsOnTheirOwnAddress(t *testing.T) {
	metrics := fleettest.FreeAddr(t)
	p := startPushd(t, []string{"serve", "--kubeconfig-dir", t.TempDir()},
		map[string]string{"PUSHD_DATABASE_URL": "sqlite://" + filepath.Join(t.TempDir(), "pushd.db"), "PUSHD_METRICS_LISTEN": metrics})
	if code, body := get(t, p.base+"/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz = %d %s", code, body)
	}
	if code, body := get(t, "http://"+metrics+"/metrics"); code != http.StatusOK || !strings.Contains(body, `pushd_http_requests_total{code="200",method="GET",route="/readyz"} 1`) {
		t.Fatalf("/metrics on %s = %d, want the metrics:\n%.300s", metrics, code, body)
	}
	if code, _ := get(t, p.base+"/metrics"); code != http.StatusUnauthorized {
		t.Errorf("anonymous /metrics on the API's listener = %d, want 401", code)
	}
	for _, path := range []string{"/api/v1/clusters", "/ui/", "/readyz"} {
		if code, _ := get(t, "http://"+metrics+path); code != http.StatusNotFound {
			t.Errorf("%s on the metrics address = %d, want 404: it serves the metrics only", path, code)
		}
	}
	if code := p.stop(t); code != 0 {
		t.Fatalf("exit code %d: %s", code, p.stderr)
	}
}

func TestFlagsWinOverEnvironment(t *testing.T) {
	dir := t.TempDir()
	p := startPushd(t, []string{"--database-url", "sqlite://" + filepath.Join(dir, "flag.db"), "--kubeconfig-dir", dir},
		map[string]string{"PUSHD_DATABASE_URL": "sqlite://" + filepath.Join(dir, "env.db"), "PUSHD_LISTEN": "127.0.0.1:1"})
	p.stop(t)
	if _, err := os.Stat(filepath.Join(dir, "flag.db")); err != nil {
		t.Errorf("flag's database not used: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "env.db")); err == nil {
		t.Error("environment's database opened although a flag was given")
	}
}

func TestBadInputIsReported(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{name: "bad env duration", env: map[string]string{"PUSHD_SHUTDOWN_TIMEOUT": "soon"}, want: "PUSHD_SHUTDOWN_TIMEOUT"},
		{name: "bad database url", args: []string{"--database-url", "mysql://x"}, want: "unsupported scheme"},
		{name: "callback without secret", args: []string{"--callback-url", "http://127.0.0.1:9/cb"}, want: "callback-secret"},
		{name: "bad log level", env: map[string]string{"PUSHD_LOG_LEVEL": "loud"}, want: "PUSHD_LOG_LEVEL"},
		{name: "unknown command", args: []string{"frobnicate"}, want: "unknown command"},
		{name: "plain HTTP on every address", args: []string{"--listen", "0.0.0.0:0"}, want: "--insecure-http"},
		{name: "plain HTTP from the environment", env: map[string]string{"PUSHD_LISTEN": "[::]:0"}, want: "--tls-cert-file"},
		{name: "short API token", args: []string{"--api-tokens", "acme=t0ken"}, want: "api-tokens"},
		{name: "short webhook key", args: []string{"--webhook-secrets", "acme=whsec_a2V5"}, want: "128 bits"},
		{name: "bad trusted proxy", args: []string{"--trusted-proxies", "10.0.0.0/40"}, want: "trusted-proxies"},
		{name: "one callback URL for several organizations", env: map[string]string{
			"PUSHD_WEBHOOK_SECRETS": "acme=" + testKeyA + " globex=" + testKeyB,
			"PUSHD_CALLBACK_URL":    "http://127.0.0.1:9/cb", "PUSHD_CALLBACK_SECRET": testKeyA,
		}, want: "write each as org=URL"},
		{name: "callback URL of an organization without its secret", args: []string{
			"--webhook-secrets", "acme=" + testKeyA + " globex=" + testKeyB,
			"--callback-urls", "acme=http://127.0.0.1:9/a globex=http://127.0.0.1:9/g", "--callback-secrets", "acme=" + testKeyA,
		}, want: `organization "globex" has a callback URL but no callback secret`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			code := Run(context.Background(), tt.args, env(tt.env), io.Discard, &stderr)
			if code == 0 || !strings.Contains(stderr.String(), tt.want) {
				t.Fatalf("exit %d, stderr %q; want failure naming %q", code, stderr.String(), tt.want)
			}
		})
	}
}

// Strong webhook keys of three organizations, for the callback settings' cases.
const (
	testKeyA = "whsec_YWNtZS1jYWxsYmFjay1zZWNyZXQtMDEyMzQ1Njc4OQ=="
	testKeyB = "whsec_Z2xvYmV4LWNhbGxiYWNrLXNlY3JldC0wMTIzNDU2Nzg="
	testKeyC = "whsec_aW5pdGVjaC13ZWJob29rLXNlY3JldC0wMTIzNDU2Nzg="
)

// Each organization its own callback receiver: pushd starts with one per
// organization and names, as it starts, the organization that has none.
func TestCallbackReceiversPerOrganization(t *testing.T) {
	dir := t.TempDir()
	var stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	code := Run(ctx, []string{"--listen", "127.0.0.1:0", "--database-url", "sqlite://" + filepath.Join(dir, "p.db"), "--kubeconfig-dir", dir,
		"--webhook-secrets", "acme=" + testKeyA + " globex=" + testKeyB + " initech=" + testKeyC,
		"--callback-urls", "acme=http://127.0.0.1:9/a globex=http://127.0.0.1:9/g", "--callback-secrets", "acme=" + testKeyA + " globex=" + testKeyB,
	}, env(nil), io.Discard, &stderr)
	if code != 0 || !strings.Contains(stderr.String(), "organizations without a callback receiver") || !strings.Contains(stderr.String(), "initech") {
		t.Fatalf("exit %d, stderr %s; want a clean run naming initech as without a receiver", code, stderr.String())
	}
	if strings.Contains(stderr.String(), "no --callback-urls") {
		t.Fatalf("stderr %s: callbacks reported off", stderr.String())
	}
}

// --insecure-http is the explicit way to serve plain HTTP on every address.
func TestInsecureHTTPIsExplicit(t *testing.T) {
	dir := t.TempDir()
	var stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	code := Run(ctx, []string{"--listen", "0.0.0.0:0", "--insecure-http", "--database-url", "sqlite://" + filepath.Join(dir, "p.db"), "--kubeconfig-dir", dir}, env(nil), io.Discard, &stderr)
	if code != 0 || !strings.Contains(stderr.String(), "in clear") {
		t.Fatalf("exit %d, stderr %s; want a clean run with a warning", code, stderr.String())
	}
}

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if code := Run(context.Background(), []string{"version"}, env(nil), &out, io.Discard); code != 0 {
		t.Fatal(code)
	}
	if !strings.HasPrefix(out.String(), "pushd ") {
		t.Fatalf("version printed %q", out.String())
	}
}

// --dev prints throw-away secrets, keeps them in the data directory (and
// says where) so a restart keeps UI sessions and a local Odoo working, and
// the start-up log names the UI's address.
func TestDevPrintsThrowAwaySecrets(t *testing.T) {
	dir := t.TempDir()
	args := []string{"--dev", "--database-url", "sqlite://" + filepath.Join(dir, "p.db"), "--kubeconfig-dir", dir}
	p := startPushd(t, args, nil)
	// Log in to the UI with the printed token.
	m := regexp.MustCompile(`API token \(organization "default"\): (\S+)`).FindStringSubmatch(p.stdout.String())
	if m == nil {
		t.Fatalf("no API token printed:\n%s", p.stdout)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.PostForm(p.base+"/ui/login", url.Values{"token": {m[1]}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cookie := resp.Header.Get("Set-Cookie")
	if resp.StatusCode != http.StatusSeeOther || cookie == "" {
		t.Fatalf("login: %d %q", resp.StatusCode, cookie)
	}
	p.stop(t)
	out := p.stdout.String()
	kept := filepath.Join(dir, "dev-secrets")
	if !strings.Contains(out, "webhook secret") || !strings.Contains(out, "whsec_") || !strings.Contains(out, "API token") || !strings.Contains(out, kept) {
		t.Fatalf("dev output:\n%s", out)
	}
	if !strings.Contains(p.stderr.String(), "ui="+p.base+"/ui/") {
		t.Errorf("the start-up log does not name the UI's address %s/ui/:\n%s", p.base, p.stderr)
	}
	if fi, err := os.Stat(kept); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("dev secrets file: %v %v", fi, err)
	}
	again := startPushd(t, args, nil)
	req, _ := http.NewRequest(http.MethodGet, again.base+"/ui/", nil)
	req.Header.Set("Cookie", strings.SplitN(cookie, ";", 2)[0])
	resp, err = noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "<h1>Fleet</h1>") {
		t.Errorf("after a restart the UI session is gone: %d", resp.StatusCode)
	}
	again.stop(t)
	if again.stdout.String() != out {
		t.Errorf("a restart made new secrets:\nfirst:\n%s\nthen:\n%s", out, again.stdout)
	}
}
