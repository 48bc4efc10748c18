package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/internal/fleettest"
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/webhook"
)

// TestSecretValuesNeverReadBack submits a job carrying a Secret with a
// recognisable value (in data and in stringData) to a real pushd (manifest key set, callbacks on, debug
// logs), lets it run on a test-bed cluster, changes the Secret's value in
// the cluster so a drift check reports it, has the receiver refuse the
// job's final callback until it is parked — then reads every route that
// shows job, request, application, drift or callback data (API, UI, CLI),
// every callback payload sent, the logs and the database file, and finds
// neither value, plain or base64, in any of them.
func TestSecretValuesNeverReadBack(t *testing.T) {
	dbtest.EachContext(t, func(t *testing.T, ctx context.Context, db dbtest.Database) {
		dir := t.TempDir()
		desired, written, live := "desired-canary-"+randHex(), "written-canary-"+randHex(), "live-canary-"+randHex()
		canaries := []string{desired, written, live, b64(desired), b64(written), b64(live)}

		const (
			secret = "whsec_c2VjcmV0cy10ZXN0LXdlYmhvb2sta2V5LTAx"
			token  = "secrets-test-read-token-0123456789"
		)
		id, ns, app := "sec-"+randHex()[:8], "sec-"+randHex()[:8], "vault"
		kubeconfigs := filepath.Join(dir, "kubeconfigs")
		creds, err := clusters.NewCredentialStore(kubeconfigs)
		if err != nil {
			t.Fatal(err)
		}
		c := bed.Clusters()[0]
		fleettest.ManagedNamespace(t, c, ns)
		fleettest.Enroll(t, creds, c, id, []string{ns})

		// The receiver keeps every payload and refuses the job's final
		// status for good, so it is parked.
		receiver := fleettest.NewReceiver(t, func(w http.ResponseWriter, b string) {
			if strings.Contains(b, `"status":"succeeded"`) {
				// Echoed, so the parked callback's last_error holds the payload.
				http.Error(w, "refused: "+b, http.StatusBadRequest)
			}
		})

		dbURL := "sqlite://" + filepath.Join(dir, "pushd.db")
		if db.Driver == "postgres" {
			dbURL = db.DSN
		}
		keys := "k1=" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{42}, 32))
		environ := map[string]string{
			"PUSHD_DATABASE_URL": dbURL, "PUSHD_KUBECONFIG_DIR": kubeconfigs, "PUSHD_MANIFEST_KEYS": keys,
			"PUSHD_WEBHOOK_SECRETS": secret, "PUSHD_API_TOKENS": token,
			"PUSHD_CALLBACK_URL": receiver.URL, "PUSHD_CALLBACK_SECRET": secret,
			"PUSHD_LOG_LEVEL": "debug", "PUSHD_PROBE_INTERVAL": "1s", "PUSHD_STATUS_INTERVAL": "1s",
		}
		p := startPushd(t, []string{"serve"}, environ)

		write := func(method, path string, body any) (int, string) {
			t.Helper()
			b, _ := json.Marshal(body)
			req, _ := http.NewRequest(method, p.base+path, bytes.NewReader(b))
			s, _ := webhook.ParseSecret(secret)
			s.SetHeaders(req.Header, "msg-"+randHex(), time.Now(), webhook.Bound(method, path, b))
			return send(t, req)
		}
		read := func(path string) (int, string) {
			t.Helper()
			req, _ := http.NewRequest(http.MethodGet, p.base+path, nil)
			req.Header.Set("Authorization", "Bearer "+token)
			return send(t, req)
		}
		until := func(what string, ok func() bool) {
			t.Helper()
			for deadline := time.Now().Add(60 * time.Second); !ok(); time.Sleep(200 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("%s: gave up waiting\n%s", what, p.stderr)
				}
			}
		}

		if code, body := write(http.MethodPut, "/api/v1/clusters/"+id, map[string]any{
			"connectivity": "push", "allowed_namespaces": []string{ns}, "allowed_applications": []string{app},
			"allowed_operations": []map[string]string{{"engine": "manifest", "type": "deploy"}},
			"drift":              map[string]string{"schedule": "0 0 1 1 *", "mode": "report"},
		}); code != http.StatusCreated {
			t.Fatalf("cluster: %d %s", code, body)
		}
		until("cluster ready", func() bool {
			_, body := read("/api/v1/clusters/" + id)
			return strings.Contains(body, `"state":"ready"`)
		})
		job := "job-" + randHex()[:8]
		if code, body := write(http.MethodPost, "/api/v1/jobs", map[string]any{
			"id": job, "cluster": id, "request_id": "req-" + job, "operation": map[string]string{"engine": "manifest", "type": "deploy"},
			"application": app, "namespace": ns, "action": "apply",
			"manifests": []any{
				// kubectl apply leaves the whole object, values included, in
				// an annotation; a manifest exported from a cluster has it.
				map[string]any{"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": "db", "annotations": map[string]string{
					"kubectl.kubernetes.io/last-applied-configuration": `{"apiVersion":"v1","kind":"Secret","data":{"password":"` + b64(desired) + `"}}`}},
					"data": map[string]string{"password": b64(desired)}},
				map[string]any{"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": "api"},
					"stringData": map[string]string{"token": written}},
			},
		}); code != http.StatusAccepted {
			t.Fatalf("job: %d %s", code, body)
		}
		until("job succeeded", func() bool {
			_, body := read("/api/v1/jobs/" + job)
			return strings.Contains(body, `"status":"succeeded"`)
		})

		// Someone changes the value in the cluster; the drift check finds it.
		admin, err := kubernetes.NewForConfig(c.AdminConfig())
		if err != nil {
			t.Fatal(err)
		}
		s, err := admin.CoreV1().Secrets(ns).Get(ctx, "db", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		s.Data["password"] = []byte(live)
		s.Annotations["kubectl.kubernetes.io/last-applied-configuration"] = `{"data":{"password":"` + b64(live) + `"}}`
		if _, err := admin.CoreV1().Secrets(ns).Update(ctx, s, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
			t.Fatal(err)
		}
		if code, body := write(http.MethodPost, "/api/v1/clusters/"+id+"/drift-checks", map[string]any{}); code != http.StatusAccepted {
			t.Fatalf("drift check: %d %s", code, body)
		}
		appPath := "/api/v1/clusters/" + id + "/applications/" + ns + "/" + app
		var last string
		defer func() {
			if t.Failed() {
				t.Logf("last application view: %s", last)
			}
		}()
		until("drift detected", func() bool {
			_, last = read(appPath)
			return strings.Contains(last, `"drift":"drifted"`)
		})
		until("final callback parked", func() bool {
			_, body := read("/api/v1/callbacks/parked")
			return strings.Contains(body, `"type":"job.status_changed"`)
		})

		// Every answer that shows a job, a request, an application or a callback.
		answers := map[string]string{}
		for _, path := range []string{
			"/api/v1/jobs/" + job, "/api/v1/jobs?cluster=" + id, "/api/v1/requests/req-" + job,
			"/api/v1/clusters/" + id, "/api/v1/clusters/" + id + "/applications", appPath, "/api/v1/callbacks/parked",
		} {
			code, body := read(path)
			if code != http.StatusOK {
				t.Fatalf("GET %s: %d %s", path, code, body)
			}
			answers["GET "+path] = body
		}
		if !strings.Contains(answers["GET "+appPath], ".data.password") {
			t.Fatalf("the drift view does not name the drifted field, so this test shows nothing:\n%s", answers["GET "+appPath])
		}
		cookie := uiLogin(t, p.base, token)
		for _, path := range []string{
			"/ui/", "/ui/clusters/" + id, "/ui/clusters/" + id + "/applications/" + ns + "/" + app,
			"/ui/jobs", "/ui/jobs/" + job, "/ui/requests/req-" + job, "/ui/callbacks",
		} {
			req, _ := http.NewRequest(http.MethodGet, p.base+path, nil)
			req.Header.Set("Cookie", cookie)
			code, body := send(t, req)
			if code != http.StatusOK {
				t.Fatalf("GET %s: %d %s", path, code, body)
			}
			answers["UI "+path] = body
		}
		if !strings.Contains(answers["UI /ui/jobs/"+job], "password: (hidden)") {
			t.Fatalf("the job page does not show the Secret's keys, so this test shows nothing:\n%s", answers["UI /ui/jobs/"+job])
		}
		if appPage := answers["UI /ui/clusters/"+id+"/applications/"+ns+"/"+app]; !strings.Contains(appPage, "last-applied-configuration") {
			t.Fatalf("the application page does not show the drifted annotation, so this test shows nothing:\n%s", appPage)
		}
		for _, args := range [][]string{{"jobs", "get", job}, {"jobs", "list", "--cluster", id}} {
			var out, errb bytes.Buffer
			if code := Run(ctx, args, env(environ), &out, &errb); code != 0 {
				t.Fatalf("pushd %v: %d %s", args, code, errb.String())
			}
			answers["CLI "+strings.Join(args, " ")] = out.String() + errb.String()
		}
		for i, b := range receiver.Bodies() {
			answers[fmt.Sprintf("callback #%d", i)] = b
		}
		p.stop(t)
		answers["logs"] = p.stdout.String() + p.stderr.String()
		if db.Driver == "sqlite" {
			for _, f := range []string{"pushd.db", "pushd.db-wal"} {
				b, _ := os.ReadFile(filepath.Join(dir, f))
				answers["file "+f] = string(b)
			}
		}
		for where, body := range answers {
			for _, canary := range canaries {
				if strings.Contains(body, canary) {
					t.Errorf("%s holds a Secret value (%q):\n%.3000s", where, canary, strings.ToValidUTF8(body, "?"))
				}
			}
		}
	})
}

// uiLogin signs in to the UI with token and returns the session cookie.
func uiLogin(t *testing.T, base, token string) string {
	t.Helper()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.PostForm(base+"/ui/login", url.Values{"token": {token}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	return strings.SplitN(resp.Header.Get("Set-Cookie"), ";", 2)[0]
}

func randHex() string {
	b := make([]byte, 8)
	rand.Read(b)
	return fmt.Sprintf("%x", b)
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
