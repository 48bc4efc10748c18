package api_test

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/vworkspace/pushd/pkg/api"
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/health"
	"github.com/vworkspace/pushd/pkg/store"
)

// The UI's demo fleet, as a platform engineer would find it: on top of
// uiFleet, a cluster behind a TCP forwarder the test can stop (a cluster
// going down), with a hostile display name; a namespace that does not
// exist; a job with a Secret; a job that stays running (a Deployment no
// controller makes ready) and one queued behind it; and a drifted
// application, its ConfigMap edited by another field manager.
type uiDemo struct {
	uiFleet
	down                  *forwarder
	secretJob             string
	running, queued, wiki string // the blocked jobs and their request
	failed                string // forum's job, which its operator fails
}

const (
	hostileName   = `"><img src=x onerror=alert(1)> javascript:alert(1)`
	secretValue   = "hunter2-very-secret"
	driftManager  = "kubectl-edit-by-bob"
	missingNSName = "absent-ns"
)

// withFastMonitor runs a monitor probing every interval, so the UI sees a
// cluster go down without waiting for the default 15 s.
func withFastMonitor(interval time.Duration) envOption {
	return func(ctx context.Context, deps *api.Deps) {
		m := health.NewMonitor(deps.Clusters.(*clusters.Registry), deps.Store, health.MonitorOptions{Interval: interval})
		deps.Health = m
		go m.Run(ctx)
	}
}

func newUIDemo(t *testing.T, e *env) uiDemo {
	t.Helper()
	d := uiDemo{uiFleet: newUIFleet(t, e)}
	c := bed.Clusters()[0]

	// acme-prod-1 also allows a namespace that does not exist, and a second application.
	rec := record(d.ns, missingNSName)
	rec["allowed_applications"] = []string{"nextcloud", "wiki", "forum"}
	rec["accept_excess_rights"] = true // its kubeconfig is the test bed's admin token
	if r := e.write(t, http.MethodPut, "/api/v1/clusters/acme-prod-1", acmeSecret, mustJSON(t, rec)); r.status != http.StatusOK {
		t.Fatalf("acme-prod-1: %d %s", r.status, r.body)
	}
	// Storing the credential again probes now, with the new namespaces.
	if r := e.write(t, http.MethodPut, "/api/v1/clusters/acme-prod-1/kubeconfig", acmeSecret, kubeconfig(t, c.AdminToken, nil)); r.status != http.StatusOK {
		t.Fatalf("acme-prod-1 kubeconfig: %d %s", r.status, r.body)
	}

	d.down = newForwarder(t, strings.TrimPrefix(c.Host, "https://"))
	edge := record(d.ns)
	edge["display_name"] = hostileName
	edge["accept_excess_rights"] = true // the admin token again
	if r := e.write(t, http.MethodPut, "/api/v1/clusters/acme-edge-down", acmeSecret, mustJSON(t, edge)); r.status != http.StatusCreated {
		t.Fatalf("acme-edge-down: %d %s", r.status, r.body)
	}
	kc := kubeconfig(t, c.AdminToken, func(cfg *clientcmdapi.Config) { cfg.Clusters["c"].Server = "https://" + d.down.addr })
	if r := e.write(t, http.MethodPut, "/api/v1/clusters/acme-edge-down/kubeconfig", acmeSecret, kc); r.status != http.StatusOK {
		t.Fatalf("acme-edge-down kubeconfig: %d %s", r.status, r.body)
	}

	submit := func(id, app, reqID string, timeout int, manifests ...any) {
		t.Helper()
		j := map[string]any{
			"id": id, "cluster": "acme-prod-1", "operation": map[string]string{"engine": "manifest", "type": "deploy"},
			"application": app, "namespace": d.ns, "action": "apply", "timeout_seconds": timeout, "manifests": manifests,
		}
		if reqID != "" {
			j["request_id"] = reqID
		}
		if r := e.write(t, http.MethodPost, "/api/v1/jobs", acmeSecret, mustJSON(t, j)); r.status != http.StatusAccepted {
			t.Fatalf("job %s: %d %s", id, r.status, r.body)
		}
	}
	d.secretJob = "secret-" + d.ns
	// An apply lists all of an application's objects: the ConfigMap stays.
	settings := map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "settings"}, "data": map[string]string{"k": "v"}}
	submit(d.secretJob, "nextcloud", "req-"+d.ns, 30, settings, map[string]any{"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": "creds"},
		"data": map[string]string{"password": base64.StdEncoding.EncodeToString([]byte(secretValue))}})
	waitJob(t, e, d.secretJob, "succeeded")

	d.wiki, d.running, d.queued = "wiki-"+d.ns, "wiki-run-"+d.ns, "wiki-queued-"+d.ns
	deploy := map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": "wiki"},
		"spec": map[string]any{"selector": map[string]any{"matchLabels": map[string]string{"app": "wiki"}},
			"template": map[string]any{"metadata": map[string]any{"labels": map[string]string{"app": "wiki"}},
				"spec": map[string]any{"containers": []any{map[string]any{"name": "wiki", "image": "wiki:1"}}}}}}
	submit(d.running, "wiki", d.wiki, 300, deploy)
	waitJob(t, e, d.running, "running")
	// Not in d.wiki: a request's view shows the newest job of each cluster
	// and application, and the request page is about the running one.
	submit(d.queued, "wiki", "", 300, deploy)

	// forum's operator fails it (the test bed's stand-in fails an
	// Application annotated so).
	d.failed = "forum-" + d.ns
	submit(d.failed, "forum", "", 30, map[string]any{"apiVersion": "vworkspace.io/v1alpha1", "kind": "Application",
		"metadata": map[string]any{"name": "forum", "annotations": map[string]string{"testbed.vworkspace.io/outcome": "fail"}},
		"spec":     map[string]any{"chart": "forum"}})
	waitJob(t, e, d.failed, "failed")

	// Bob edits the ConfigMap pushd applied.
	kube, err := kubernetes.NewForConfig(c.AdminConfig())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cm, err := kube.CoreV1().ConfigMaps(d.ns).Get(ctx, "settings", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Data = map[string]string{"k": "bobs-value"}
	if _, err := kube.CoreV1().ConfigMaps(d.ns).Update(ctx, cm, metav1.UpdateOptions{FieldManager: driftManager}); err != nil {
		t.Fatal(err)
	}
	return d
}

// waitJob waits until job id has status.
func waitJob(t *testing.T, e *env, id, status string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		r := e.read(t, "/api/v1/jobs/"+id, acmeToken)
		st := r.json(t)["status"]
		if st == status {
			return
		}
		if st == string(store.JobFailed) && status != "failed" || time.Now().After(deadline) {
			t.Fatalf("job %s is %v, want %s: %s", id, st, status, r.body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// forwarder passes TCP connections to a real API server until stopped: a
// cluster that goes down, for real, without stopping the shared test bed.
type forwarder struct {
	addr string
	ln   net.Listener
	mu   sync.Mutex
	open []net.Conn
}

func newForwarder(t *testing.T, target string) *forwarder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &forwarder{addr: ln.Addr().String(), ln: ln}
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			f.mu.Lock()
			f.open = append(f.open, in, out)
			f.mu.Unlock()
			go func() { io.Copy(out, in); out.Close() }()
			go func() { io.Copy(in, out); in.Close() }()
		}
	}()
	t.Cleanup(f.stop)
	return f
}

// stop closes the listener and every connection: the address refuses.
func (f *forwarder) stop() {
	if err := f.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.open {
		c.Close()
	}
	f.open = nil
}
