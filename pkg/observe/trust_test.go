package observe_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/vworkspace/pushd/internal/fleettest"
	"github.com/vworkspace/pushd/internal/testbed"
	"github.com/vworkspace/pushd/internal/testbed/operator"
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/inventory"
	"github.com/vworkspace/pushd/pkg/jobs"
	"github.com/vworkspace/pushd/pkg/observe"
	"github.com/vworkspace/pushd/pkg/store"
)

// recorder is an API server "B controls": a TLS proxy in front of a
// test-bed cluster that records every request it forwards.
type recorder struct {
	srv  *httptest.Server
	mu   sync.Mutex
	seen []string
}

func newRecorder(t *testing.T, c *testbed.Cluster) *recorder {
	t.Helper()
	rt, err := rest.TransportFor(c.AdminConfig())
	if err != nil {
		t.Fatal(err)
	}
	target, err := url.Parse(c.AdminConfig().Host)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.Transport = rt
	r := &recorder{}
	r.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.seen = append(r.seen, req.Method+" "+req.URL.String()+" "+string(body))
		r.mu.Unlock()
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.Header.Del("Authorization")
		proxy.ServeHTTP(w, req)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *recorder) credential() *clusters.Credential {
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: r.srv.Certificate().Raw})
	return &clusters.Credential{Server: r.srv.URL, CAData: ca, Token: "organization-b"}
}

// carrying lists the recorded requests that contain s.
func (r *recorder) carrying(s string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, req := range r.seen {
		if strings.Contains(req, s) {
			out = append(out, req)
		}
	}
	return out
}

// TestReusedIDStartsEmpty: organization A applies a Secret to its cluster
// and deletes the record; organization B registers the same id with a
// kubeconfig for a server it controls, on which it planted a copy of A's
// inventory. B sees no job, event or drift reference of A's, and its drift
// check sends nothing of A's manifests to B's server.
func TestReusedIDStartsEmpty(t *testing.T) {
	eachOn(t, 0, observe.Options{}, func(t *testing.T, ctx context.Context, h *harness, _ *testbed.Cluster, id string) {
		secret := "a-password-" + fleettest.RandomID()
		h.deploy(t, "a-1", id, "nextcloud", manifest("v1", "Secret", "a-db", nil, map[string]any{"stringData": map[string]any{"password": secret}}))

		// B's server holds an inventory of the same application.
		fleettest.ManagedNamespace(t, bed.Clusters()[1], h.NS)
		a, _ := kubernetes.NewForConfig(bed.Clusters()[0].AdminConfig())
		b, _ := kubernetes.NewForConfig(bed.Clusters()[1].AdminConfig())
		key := inventory.Key{Cluster: id, Namespace: h.NS, Application: "nextcloud"}
		inv, err := a.CoreV1().ConfigMaps(h.NS).Get(ctx, key.Name(), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		planted := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: inv.Name, Labels: inv.Labels, Annotations: inv.Annotations}, Data: inv.Data}
		if _, err := b.CoreV1().ConfigMaps(h.NS).Create(ctx, planted, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}

		// A deletes its record, as DELETE /clusters/{id} does.
		if err := h.Service.CancelCluster(ctx, fleettest.Org, id); err != nil {
			t.Fatal(err)
		}
		if err := h.Registry.Delete(ctx, fleettest.Org, id); err != nil {
			t.Fatal(err)
		}
		h.Monitor.Forget(id)
		h.watcher.Forget(id)

		rec := fleettest.Record(id, h.NS, clusters.Drift{Mode: clusters.DriftCorrect})
		rec.AcceptExcessRights = true // B's server answers with admin rights
		if _, created, err := h.Registry.Put(ctx, "globex", rec); err != nil || !created {
			t.Fatalf("B registers %s: created=%v %v", id, created, err)
		}
		rcd := newRecorder(t, bed.Clusters()[1])
		if err := h.Registry.SaveCredential(id, rcd.credential()); err != nil {
			t.Fatal(err)
		}

		apps, err := h.watcher.Applications(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(apps) != 1 || apps[0].LastJob != nil || apps[0].ReferenceJob != nil || apps[0].Drift != observe.DriftUnknown {
			t.Fatalf("B's applications show A's: %+v", apps)
		}
		if err := h.watcher.CheckDrift(ctx, id); err != nil {
			t.Fatal(err)
		}
		// B's own inventory names a-db, so reading it is B's business;
		// writing (or dry-running) A's manifest there is not.
		for _, req := range rcd.carrying("a-db") {
			if !strings.HasPrefix(req, "GET ") {
				t.Fatalf("B's server received A's manifest: %q", req)
			}
		}
		if got := rcd.carrying(secret); len(got) > 0 {
			t.Fatalf("B's server received A's Secret value: %q", got)
		}
		events, err := h.Store.Events(ctx, id, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range events {
			if e.Organization != "globex" {
				t.Fatalf("B's cluster lists an event of %s: %s %s", e.Organization, e.Type, e.Data)
			}
		}
		if len(h.events(t, id, observe.EventDriftDetected)) > 0 {
			t.Fatal("drift reported for B against A's manifests")
		}
	})
}

// TestDriftReferenceIsLatestIntent: an upgrade that timed out still wrote
// its objects, so it is the reference: no drift against the older intent,
// and a correction re-applies the upgrade's manifests. A delete that
// failed after it started is the newest intent too: the application is
// never re-created.
func TestDriftReferenceIsLatestIntent(t *testing.T) {
	eachOn(t, 0, observe.Options{}, func(t *testing.T, ctx context.Context, h *harness, c *testbed.Cluster, id string) {
		kube, _ := kubernetes.NewForConfig(c.AdminConfig())
		h.deploy(t, "up-1", id, "nextcloud", app("nextcloud"), configMap("settings", map[string]string{"v": "1"}))
		hanging := manifest("vworkspace.io/v1alpha1", "Application", "nextcloud", map[string]string{operator.OutcomeAnnotation: operator.OutcomeHang},
			map[string]any{"spec": map[string]any{"chart": "nextcloud-v2"}}) // a new generation the operator never finishes
		h.Submit(t, jobs.Spec{ID: "up-2", Cluster: id, Operation: jobs.Operation{Engine: "manifest", Type: "deploy"}, Application: "nextcloud",
			Namespace: h.NS, Action: jobs.ActionApply, Manifests: []json.RawMessage{hanging, configMap("settings", map[string]string{"v": "2"})}, TimeoutSeconds: 3})
		if j := h.Wait(t, "up-2", time.Minute); j.Status != store.JobFailed || j.Error.Code != "timeout" {
			t.Fatalf("up-2: %s %+v", j.Status, j.Error)
		}
		if err := h.watcher.CheckDrift(ctx, id); err != nil {
			t.Fatal(err)
		}
		d := h.appOf(t, id, "nextcloud")
		if d.Drift != observe.DriftInSync || d.ReferenceJob == nil || d.ReferenceJob.ID != "up-2" {
			t.Fatalf("after a timed-out upgrade: drift %s, reference %+v", d.Drift, d.ReferenceJob)
		}
		if d.LastJob == nil || d.LastJob.Error == nil || d.LastJob.Error.Code != "timeout" {
			t.Fatalf("last job does not say it failed: %+v", d.LastJob)
		}
		if n := len(h.events(t, id, observe.EventDriftDetected)); n > 0 {
			t.Fatalf("%d false drift.detected", n)
		}

		// Drifted, in correct mode: the upgrade's manifests are put back.
		h.put(t, id, clusters.Drift{Mode: clusters.DriftCorrect})
		someone(t, c, configMaps, map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": "settings", "namespace": h.NS}, "data": map[string]any{"v": "someone"}})
		if err := h.watcher.CheckDrift(ctx, id); err != nil {
			t.Fatal(err)
		}
		detected := h.events(t, id, observe.EventDriftDetected)
		if len(detected) != 1 || detected[0].Data["reference_job"] != "up-2" {
			t.Fatalf("drift.detected: %+v", detected)
		}
		correction, _ := detected[0].Data["correction_job"].(string)
		if correction == "" {
			t.Fatal("no correction queued")
		}
		h.Wait(t, correction, time.Minute)
		cm, err := kube.CoreV1().ConfigMaps(h.NS).Get(ctx, "settings", metav1.GetOptions{})
		if err != nil || cm.Data["v"] != "2" {
			t.Fatalf("corrected settings: %v %v (want the upgrade's v=2)", cm.Data, err)
		}
		if err := h.watcher.CheckDrift(ctx, id); err != nil {
			t.Fatal(err)
		}
		if resolved := h.events(t, id, observe.EventDriftResolved); len(resolved) != 1 || resolved[0].Data["correction_job"] != correction {
			t.Fatalf("drift.resolved after the correction: %+v", resolved)
		}
		if d := h.appOf(t, id, "nextcloud"); d.Drift != observe.DriftInSync {
			t.Fatalf("after the correction: drift %s", d.Drift)
		}

		// A delete that fails after it started: never re-created.
		held := map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": "settings", "namespace": h.NS, "finalizers": []any{"test.vworkspace.io/hold"}}}
		someone(t, c, configMaps, held)
		t.Cleanup(func() {
			kube.CoreV1().ConfigMaps(h.NS).Patch(context.Background(), "settings", "application/merge-patch+json",
				[]byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
		})
		h.Submit(t, jobs.Spec{ID: "del-1", Cluster: id, Operation: jobs.Operation{Engine: "manifest", Type: "deploy"}, Application: "nextcloud",
			Namespace: h.NS, Action: jobs.ActionDelete, TimeoutSeconds: 3})
		if j := h.Wait(t, "del-1", time.Minute); j.Status != store.JobFailed {
			t.Fatalf("del-1: %s %+v", j.Status, j.Error)
		}
		before := len(h.events(t, id, observe.EventDriftDetected))
		if err := h.watcher.CheckDrift(ctx, id); err != nil {
			t.Fatal(err)
		}
		if n := len(h.events(t, id, observe.EventDriftDetected)); n != before {
			t.Fatalf("drift reported after a failed delete: %+v", h.events(t, id, observe.EventDriftDetected))
		}
		page, err := h.Service.List(ctx, fleettest.Org, jobs.ListOptions{Cluster: id})
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range page.Items {
			if j.Trigger == jobs.TriggerDrift && j.ID != correction {
				t.Fatalf("a correction was queued after the delete: %s", j.ID)
			}
		}
	})
}

// TestUnreadableNamespaceIsPartial: a record allowing a namespace that does
// not exist still lists the applications of the others, and names the
// namespace it could not read, with the reason.
func TestUnreadableNamespaceIsPartial(t *testing.T) {
	eachOn(t, 1, observe.Options{}, func(t *testing.T, ctx context.Context, h *harness, _ *testbed.Cluster, id string) {
		h.deploy(t, "p-1", id, "nextcloud", app("nextcloud"))
		missing := "missing-" + fleettest.RandomID()
		rec := fleettest.Record(id, h.NS, clusters.Drift{})
		rec.AllowedNamespaces = append(rec.AllowedNamespaces, missing)
		if _, _, err := h.Registry.Put(ctx, fleettest.Org, rec); err != nil {
			t.Fatal(err)
		}
		if err := h.watcher.Poll(ctx, id); err != nil {
			t.Fatal(err)
		}
		l, err := h.watcher.ApplicationList(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Items) != 1 || l.Items[0].Application != "nextcloud" || l.Items[0].Health != "Current" {
			t.Fatalf("applications with one unreadable namespace: %+v", l.Items)
		}
		if len(l.UnreadableNamespaces) != 1 || l.UnreadableNamespaces[0].Namespace != missing || l.UnreadableNamespaces[0].Reason == "" {
			t.Fatalf("unreadable namespaces: %+v", l.UnreadableNamespaces)
		}
	})
}

// TestEndedCorrectionIsCheckedAtOnce: once a drift correction ends, the
// application's drift is checked again without waiting for a poll or the
// schedule (both an hour away here), so drift.resolved names the correction.
func TestEndedCorrectionIsCheckedAtOnce(t *testing.T) {
	eachOn(t, 0, observe.Options{PollInterval: time.Hour}, func(t *testing.T, ctx context.Context, h *harness, c *testbed.Cluster, id string) {
		ctx, cancel := context.WithCancel(ctx)
		h.deploy(t, "up-1", id, "nextcloud", app("nextcloud"), configMap("settings", map[string]string{"v": "1"}))
		h.put(t, id, clusters.Drift{Mode: clusters.DriftCorrect, Schedule: "0 0 1 1 *"})
		done := make(chan struct{})
		go func() { h.watcher.Run(ctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done })

		someone(t, c, configMaps, map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": "settings", "namespace": h.NS}, "data": map[string]any{"v": "someone"}})
		if _, err := h.watcher.RequestDriftCheck(ctx, id); err != nil {
			t.Fatal(err)
		}
		var correction string
		waitFor(t, "drift.detected with a correction", func() bool {
			d := h.events(t, id, observe.EventDriftDetected)
			if len(d) == 1 {
				correction, _ = d[0].Data["correction_job"].(string)
			}
			return correction != ""
		})
		if j := h.Wait(t, correction, time.Minute); j.Status != store.JobSucceeded {
			t.Fatalf("correction %s: %s %+v", correction, j.Status, j.Error)
		}
		waitFor(t, "drift.resolved naming the correction", func() bool {
			r := h.events(t, id, observe.EventDriftResolved)
			return len(r) == 1 && r[0].Data["correction_job"] == correction
		})
		if d := h.appOf(t, id, "nextcloud"); d.Drift != observe.DriftInSync {
			t.Fatalf("after the correction: drift %s", d.Drift)
		}
	})
}

// waitFor polls cond for up to 30 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30s", what)
		}
	}
}
