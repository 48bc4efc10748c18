package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/vworkspace/pushd/internal/contracttest"
	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/internal/faultcheck"
	"github.com/vworkspace/pushd/internal/pushdproc"
	"github.com/vworkspace/pushd/internal/testbed"
	"github.com/vworkspace/pushd/internal/testbed/operator"
)

var (
	bed    *testbed.Bed
	binary string // pushd, built once for the package
)

func TestMain(m *testing.M) {
	bed = testbed.MustStart(testbed.Options{Clusters: 3, OperatorDelay: 300 * time.Millisecond})
	dir, _ := os.MkdirTemp("", "pushd-e2e-")
	var err error
	if binary, err = pushdproc.Build(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		bed.Stop()
		os.Exit(1)
	}
	code := dbtest.Main(m)
	bed.Stop()
	os.RemoveAll(dir)
	os.Exit(code)
}

const (
	webhookSecret  = "whsec_ZTJlLXdlYmhvb2stc2VjcmV0LWtleS0xMjM0NQ=="
	callbackSecret = "whsec_ZTJlLWNhbGxiYWNrLXNlY3JldC1rZXktMTIz"
	readToken      = "e2e-read-token-0123456789abcdefgh"
)

// newReceiver is Odoo's callback endpoint, checking every callback
// against the contract.
func newReceiver(t *testing.T) *faultcheck.Receiver {
	r, err := faultcheck.NewReceiver(callbackSecret, func(body []byte) { contracttest.CheckEvent(t, body) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

// jobEvents returns, per job id, the statuses of its job.status_changed
// callbacks, and per (job, status) the distinct webhook-ids that carried it.
func jobEvents(r *faultcheck.Receiver) (map[string][]string, map[string]map[string]bool) {
	seq := map[string][]string{}
	ids := map[string]map[string]bool{}
	for _, cb := range r.Deliveries() {
		if cb.Type != "job.status_changed" {
			continue
		}
		var j struct{ ID, Status string }
		json.Unmarshal(cb.Data, &j)
		seq[j.ID] = append(seq[j.ID], j.Status)
		k := j.ID + "/" + j.Status
		if ids[k] == nil {
			ids[k] = map[string]bool{}
		}
		ids[k][cb.WebhookID] = true
	}
	return seq, ids
}

// daemon is a pushd process and Odoo's client of it.
type daemon struct {
	*pushdproc.Proc
	client *pushdproc.Client
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func startDaemon(t *testing.T, addr string, env []string) *daemon {
	t.Helper()
	p, err := pushdproc.Start(pushdproc.Options{Binary: binary, Addr: addr, Env: env})
	if err != nil {
		t.Fatal(err)
	}
	return &daemon{Proc: p, client: &pushdproc.Client{Base: p.Base, Secret: webhookSecret, Token: readToken}}
}

func (d *daemon) kill9() { d.Kill9() }

func (d *daemon) stop() { d.Stop() }

var msgSeq int

func (d *daemon) write(t *testing.T, method, path string, body []byte) (int, []byte) {
	t.Helper()
	msgSeq++
	resp, err := d.client.Write(context.Background(), method, path, fmt.Sprintf("e2e-%d-%d", time.Now().UnixNano(), msgSeq), body)
	if err != nil {
		t.Fatal(err)
	}
	contracttest.Check(t, resp.Request, resp.Status, resp.Header, resp.Body)
	return resp.Status, resp.Body
}

func (d *daemon) job(t *testing.T, id string) (status string, err error) {
	return d.client.JobStatus(context.Background(), id)
}

// TestKillNineLosesNothing submits jobs to a real pushd process, kills it
// with SIGKILL while they run, and starts it again on the same database:
// every acknowledged job reaches a terminal state exactly once, and every
// status change reaches the callback receiver, duplicates only as retries
// with the same webhook-id.
func TestKillNineLosesNothing(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		ctx := context.Background()
		c := bed.Clusters[0]
		kube, _ := kubernetes.NewForConfig(c.AdminConfig())
		ns, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
			GenerateName: "e2e-", Labels: map[string]string{"managed-by": "vworkspace"}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		url := db.DSN
		if db.Driver == "sqlite" {
			url = "sqlite://" + db.DSN
		}
		recv := newReceiver(t)
		env := []string{
			"PUSHD_DATABASE_URL=" + url, "PUSHD_KUBECONFIG_DIR=" + filepath.Join(dir, "kubeconfigs"),
			"PUSHD_WEBHOOK_SECRETS=" + webhookSecret, "PUSHD_API_TOKENS=" + readToken,
			"PUSHD_CALLBACK_URL=" + recv.URL, "PUSHD_CALLBACK_SECRET=" + callbackSecret,
			"PUSHD_JOB_LEASE=3s", "PUSHD_LOG_LEVEL=debug",
		}
		addr := freeAddr(t)
		d := startDaemon(t, addr, env)
		defer func() { d.stop() }()

		rec, _ := json.Marshal(map[string]any{
			"allowed_namespaces": []string{ns.Name}, "allowed_applications": []string{"app-0", "app-1", "app-2"},
			"allowed_operations":   []map[string]string{{"engine": "manifest", "type": "deploy"}},
			"accept_excess_rights": true, // the kubeconfig below is the test bed's admin token
		})
		if code, b := d.write(t, http.MethodPut, "/api/v1/clusters/edge", rec); code != 201 {
			t.Fatalf("cluster: %d %s", code, b)
		}
		kc := clientcmdapi.NewConfig()
		kc.Clusters["c"] = &clientcmdapi.Cluster{Server: c.Host, CertificateAuthorityData: c.CAData}
		kc.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: c.AdminToken}
		kc.Contexts["x"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
		kcb, _ := clientcmd.Write(*kc)
		if code, b := d.write(t, http.MethodPut, "/api/v1/clusters/edge/kubeconfig", kcb); code != 200 {
			t.Fatalf("kubeconfig: %d %s", code, b)
		}

		// Three applications, three jobs each; every Application takes a
		// second to become Ready, so jobs are mid-flight when pushd dies.
		var ids []string
		for round := range 3 {
			for a := range 3 {
				id := fmt.Sprintf("kill-%s-%d-%d", db.Driver, a, round)
				body, _ := json.Marshal(map[string]any{
					"id": id, "cluster": "edge", "operation": map[string]string{"engine": "manifest", "type": "deploy"},
					"application": fmt.Sprintf("app-%d", a), "namespace": ns.Name, "action": "apply", "timeout_seconds": 60,
					"manifests": []any{map[string]any{
						"apiVersion": "vworkspace.io/v1alpha1", "kind": "Application",
						"metadata": map[string]any{"name": fmt.Sprintf("app-%d", a), "annotations": map[string]string{operator.DelayAnnotation: "1s"}},
						"spec":     map[string]any{"round": round},
					}},
				})
				if code, b := d.write(t, http.MethodPost, "/api/v1/jobs", body); code != 202 {
					t.Fatalf("submit %s: %d %s", id, code, b)
				}
				ids = append(ids, id)
			}
		}
		// Kill as soon as a job runs.
		deadline := time.Now().Add(30 * time.Second)
		for running := false; !running; {
			for _, id := range ids {
				if st, _ := d.job(t, id); st == "running" {
					running = true
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("no job started:\n%s", d.Log)
			}
		}
		d.kill9()
		t.Logf("killed pushd with jobs running")
		d = startDaemon(t, addr, env)

		deadline = time.Now().Add(3 * time.Minute)
		for _, id := range ids {
			for {
				st, err := d.job(t, id)
				if err == nil && (st == "succeeded" || st == "failed" || st == "cancelled") {
					if st != "succeeded" {
						t.Errorf("job %s ended %s", id, st)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("job %s still %s:\n%s", id, st, d.Log)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
		// Every terminal event reaches the receiver once per job (retries
		// keep their webhook-id).
		deadline = time.Now().Add(time.Minute)
		for {
			seq, byID := jobEvents(recv)
			missing := 0
			for _, id := range ids {
				if len(byID[id+"/succeeded"]) == 0 || len(byID[id+"/queued"]) == 0 {
					missing++
				}
			}
			if missing == 0 {
				for _, id := range ids {
					if n := len(byID[id+"/succeeded"]); n != 1 {
						t.Errorf("job %s: %d distinct succeeded events (webhook-ids %v), want exactly 1", id, n, byID[id+"/succeeded"])
					}
					s := seq[id]
					if s[0] != "queued" || s[len(s)-1] != "succeeded" {
						t.Errorf("job %s: callbacks %v, want queued … succeeded", id, s)
					}
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d jobs' callbacks missing: %v", missing, seq)
			}
			time.Sleep(200 * time.Millisecond)
		}
		resp, err := http.Get(d.Base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		metrics, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(metrics), `pushd_jobs_finished_total{action="apply",cluster="edge",code="",status="succeeded"}`) {
			t.Errorf("/metrics does not count the finished jobs")
		}
		if n := recv.BadSignatures(); n > 0 {
			t.Errorf("%d callbacks with bad signatures", n)
		}
		if strings.Contains(d.Log.String(), c.AdminToken) {
			t.Error("the credential reached pushd's log")
		}
	})
}
