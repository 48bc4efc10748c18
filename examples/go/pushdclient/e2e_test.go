package pushdclient_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/vworkspace/pushd/examples/go/pushdclient"
	"github.com/vworkspace/pushd/internal/contracttest"
	"github.com/vworkspace/pushd/internal/fleettest"
	"github.com/vworkspace/pushd/internal/pushdproc"
	"github.com/vworkspace/pushd/internal/testbed"
	"github.com/vworkspace/pushd/pkg/clusters/bootstrap"
)

const (
	webhookSecret  = "whsec_Z28tY2xpZW50LXdlYmhvb2stc2VjcmV0LWtleQ=="
	callbackSecret = "whsec_Z28tY2xpZW50LWNhbGxiYWNrLXNlY3JldA=="
	apiToken       = "go-client-read-token-0123456789abcdef"
	// The organization of a secret given without org=.
	organization = "default"
)

// The test bed and the pushd binary are made on first use, so that the
// tests that need neither (TestGeneratedCodeIsCurrent) do not wait for them.
var shared struct {
	once   sync.Once
	bed    *testbed.Bed
	binary string
	dir    string
	err    error
}

func bedAndBinary(t *testing.T) (*testbed.Bed, string) {
	t.Helper()
	shared.once.Do(func() {
		if shared.dir, shared.err = os.MkdirTemp("", "pushdclient-e2e-"); shared.err != nil {
			return
		}
		if shared.binary, shared.err = pushdproc.Build(shared.dir); shared.err != nil {
			return
		}
		shared.bed, shared.err = testbed.Start(context.Background(), testbed.Options{Clusters: 1, OperatorDelay: 300 * time.Millisecond})
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.bed, shared.binary
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.bed != nil {
		shared.bed.Stop()
	}
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// TestTypedClientCarriesWholeObjects is Odoo in Go against a real pushd and
// a real API server, through the client generated from api/openapi.yaml: it
// registers a cluster with a least-privilege credential, submits a
// ConfigMap (data, labels, annotations) and a Deployment (spec) as typed
// Manifests read from YAML, waits for the job to succeed and reads both
// objects back: they hold exactly what was sent, plus pushd's stamps. Every
// callback pushd sends meanwhile is verified with the Standard Webhooks
// library and decoded through the generated Event union.
func TestTypedClientCarriesWholeObjects(t *testing.T) {
	bed, binary := bedAndBinary(t)
	ctx := context.Background()
	c := bed.Clusters[0]
	ns := "go-client-" + fleettest.RandomID()
	cluster := "go-client-" + fleettest.RandomID()
	fleettest.ManagedNamespace(t, c, ns)
	admin, err := kubernetes.NewForConfig(c.AdminConfig())
	if err != nil {
		t.Fatal(err)
	}
	stopController := playDeploymentController(admin, ns)
	defer stopController()

	recv := newReceiver(t)
	dir := t.TempDir()
	proc, err := pushdproc.Start(pushdproc.Options{Binary: binary, Addr: fleettest.FreeAddr(t), Env: []string{
		"PUSHD_DATABASE_URL=sqlite://" + filepath.Join(dir, "pushd.db"),
		"PUSHD_KUBECONFIG_DIR=" + filepath.Join(dir, "kubeconfigs"),
		"PUSHD_WEBHOOK_SECRETS=" + webhookSecret, "PUSHD_API_TOKENS=" + apiToken,
		"PUSHD_CALLBACK_URL=" + recv.url, "PUSHD_CALLBACK_SECRET=" + callbackSecret,
		// Probes and status polls often, so their callbacks come during the test too.
		"PUSHD_PROBE_INTERVAL=1s", "PUSHD_STATUS_INTERVAL=1s",
	}})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			proc.Stop()
		}
	}
	defer stop()
	defer func() {
		if t.Failed() {
			t.Logf("pushd's log:\n%s", proc.Log.String())
		}
	}()

	creds, err := pushdclient.NewCredentials(webhookSecret, apiToken)
	if err != nil {
		t.Fatal(err)
	}
	client, err := pushdclient.NewClientWithResponses(proc.Base, pushdclient.WithRequestEditorFn(creds.Edit))
	if err != nil {
		t.Fatal(err)
	}

	// The cluster's record, then a credential bound to its namespace only.
	id, ts := pushdclient.Message()
	put, err := client.PutClusterWithResponse(ctx, cluster, &pushdclient.PutClusterParams{WebhookId: id, WebhookTimestamp: ts}, pushdclient.ClusterSpec{
		AllowedNamespaces:   &[]pushdclient.DNSLabel{ns},
		AllowedApplications: &[]pushdclient.ApplicationName{"nextcloud"},
		AllowedOperations:   &[]pushdclient.Operation{{Engine: "manifest", Type: "deploy"}, {Engine: "vworkspace", Type: "backup"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	contract(t, put.HTTPResponse, put.Body)
	if put.JSON201 == nil {
		t.Fatalf("PUT cluster: %d %s", put.StatusCode(), put.Body)
	}
	minted, err := bootstrap.Run(ctx, c.AdminConfig(), bootstrap.Options{ClusterID: cluster, Namespaces: []string{ns}, ServiceAccountName: "pushd-" + cluster})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := minted.Credential.Kubeconfig(cluster)
	if err != nil {
		t.Fatal(err)
	}
	var kubeconfig pushdclient.Kubeconfig
	if err := yaml.Unmarshal(raw, &kubeconfig); err != nil {
		t.Fatal(err)
	}
	id, ts = pushdclient.Message()
	kc, err := client.PutClusterKubeconfigWithResponse(ctx, cluster, &pushdclient.PutClusterKubeconfigParams{WebhookId: id, WebhookTimestamp: ts}, kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	contract(t, kc.HTTPResponse, kc.Body)
	if kc.JSON200 == nil || kc.JSON200.Connectivity.State != pushdclient.ConnectivityStateReady {
		t.Fatalf("PUT kubeconfig: %d %s", kc.StatusCode(), kc.Body)
	}

	// The job: the objects as Odoo has them, decoded into the typed Manifest.
	sent := readObjects(t, "testdata/nextcloud.yaml")
	manifests := make([]pushdclient.Manifest, len(sent))
	for i, obj := range sent {
		b, _ := json.Marshal(obj)
		if err := json.Unmarshal(b, &manifests[i]); err != nil {
			t.Fatal(err)
		}
	}
	job := "go-client-job-" + fleettest.RandomID()
	timeout := 60
	id, ts = pushdclient.Message()
	sub, err := client.SubmitJobWithResponse(ctx, &pushdclient.SubmitJobParams{WebhookId: id, WebhookTimestamp: ts}, pushdclient.JobRequest{
		Id: job, Cluster: cluster, Operation: pushdclient.Operation{Engine: "manifest", Type: "deploy"},
		Application: "nextcloud", Namespace: ns, Action: pushdclient.Apply,
		Manifests: &manifests, TimeoutSeconds: &timeout,
	})
	if err != nil {
		t.Fatal(err)
	}
	contract(t, sub.HTTPResponse, sub.Body)
	if sub.JSON202 == nil {
		t.Fatalf("submit: %d %s", sub.StatusCode(), sub.Body)
	}
	done := waitJob(t, client, job, 90*time.Second)
	if done.Status != pushdclient.JobStatusSucceeded {
		b, _ := json.Marshal(done)
		t.Fatalf("job ended %s: %s", done.Status, b)
	}

	// Both objects hold exactly what was sent, plus pushd's stamps.
	dyn, err := dynamic.NewForConfig(c.AdminConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range sent {
		checkLive(t, dyn, ns, cluster, want)
	}

	// An operation beside the application, in a request of its own: it
	// reports the outputs its Operation declares, and the request's end
	// comes as one request.completed.
	var backup pushdclient.Manifest
	if err := json.Unmarshal([]byte(`{"apiVersion": "vworkspace.io/v1alpha1", "kind": "Operation", "metadata": {"name": "nightly",
		"annotations": {"testbed.vworkspace.io/outputs": "{\"archive\": \"s3://backups/nextcloud/nightly.tar\"}"}}, "spec": {"action": "backup"}}`), &backup); err != nil {
		t.Fatal(err)
	}
	opJob, request := "go-client-backup-"+fleettest.RandomID(), pushdclient.RequestId("go-client-fleet-"+fleettest.RandomID())
	id, ts = pushdclient.Message()
	sub, err = client.SubmitJobWithResponse(ctx, &pushdclient.SubmitJobParams{WebhookId: id, WebhookTimestamp: ts}, pushdclient.JobRequest{
		Id: opJob, Cluster: cluster, RequestId: &request, Operation: pushdclient.Operation{Engine: "vworkspace", Type: "backup"},
		Application: "nextcloud", Namespace: ns, Action: pushdclient.Operate, Manifests: &[]pushdclient.Manifest{backup}, TimeoutSeconds: &timeout,
	})
	if err != nil {
		t.Fatal(err)
	}
	contract(t, sub.HTTPResponse, sub.Body)
	if sub.JSON202 == nil {
		t.Fatalf("submit the operation: %d %s", sub.StatusCode(), sub.Body)
	}
	op := waitJob(t, client, opJob, 90*time.Second)
	if op.Status != pushdclient.JobStatusSucceeded || op.Result == nil || op.Result.Outputs["archive"] != "s3://backups/nextcloud/nightly.tar" {
		b, _ := json.Marshal(op)
		t.Fatalf("operation: %s", b)
	}
	for _, want := range sent { // the application's objects are the operation's neighbours, untouched
		checkLive(t, dyn, ns, cluster, want)
	}
	view, err := client.GetRequestWithResponse(ctx, request)
	if err != nil {
		t.Fatal(err)
	}
	contract(t, view.HTTPResponse, view.Body)
	if view.JSON200 == nil || !view.JSON200.Completed || view.JSON200.Counts.Succeeded != 1 || len(view.JSON200.Jobs) != 1 ||
		view.JSON200.Jobs[0].Outputs == nil || (*view.JSON200.Jobs[0].Outputs)["archive"] != "s3://backups/nextcloud/nightly.tar" {
		t.Fatalf("request: %d %s", view.StatusCode(), view.Body)
	}

	// Every callback of the jobs, in order; then no more callbacks (pushd
	// stops) and none that failed its signature or its decoding.
	recv.waitFor(t, func(cbs []callback) bool {
		return len(jobStatuses(cbs, job)) == 3 && len(jobStatuses(cbs, opJob)) == 3 && len(completions(cbs, request)) == 1
	}, 30*time.Second)
	stop()
	cbs, problems := recv.close()
	for _, p := range problems {
		t.Error(p)
	}
	if got, want := jobStatuses(cbs, job), []pushdclient.JobStatus{"queued", "running", "succeeded"}; !cmp.Equal(got, want) {
		t.Errorf("job callbacks %v, want %v", got, want)
	}
	if got, want := jobStatuses(cbs, opJob), []pushdclient.JobStatus{"queued", "running", "succeeded"}; !cmp.Equal(got, want) {
		t.Errorf("operation callbacks %v, want %v", got, want)
	}
	if done := completions(cbs, request); len(done) != 1 || done[0].Counts.Succeeded != 1 || done[0].Jobs[0].Id != opJob {
		t.Errorf("request.completed callbacks: %+v", done)
	}
	kinds := map[string]int{}
	for _, cb := range cbs {
		kinds[fmt.Sprintf("%T", cb.event)]++
		contracttest.CheckEvent(t, cb.body)
	}
	t.Logf("%d callbacks verified and decoded: %v", len(cbs), kinds)
}

// contract validates one answer against api/openapi.yaml.
func contract(t *testing.T, resp *http.Response, body []byte) {
	t.Helper()
	contracttest.Check(t, resp.Request, resp.StatusCode, resp.Header, body)
}

// readObjects reads the YAML documents of a file as JSON objects.
func readObjects(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, doc := range bytes.Split(b, []byte("\n---\n")) {
		var obj map[string]any
		if err := yaml.Unmarshal(doc, &obj); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, obj)
	}
	return out
}

// waitJob polls the job until it is terminal.
func waitJob(t *testing.T, client *pushdclient.ClientWithResponses, id string, within time.Duration) *pushdclient.Job {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		r, err := client.GetJobWithResponse(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		contract(t, r.HTTPResponse, r.Body)
		if r.JSON200 == nil {
			t.Fatalf("GET job: %d %s", r.StatusCode(), r.Body)
		}
		switch r.JSON200.Status {
		case pushdclient.JobStatusSucceeded, pushdclient.JobStatusFailed, pushdclient.JobStatusCancelled:
			return r.JSON200
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still %s after %s", id, r.JSON200.Status, within)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkLive compares the live object with the one sent: labels and
// annotations are those sent plus pushd's stamps (the cluster-id label, the
// owning-inventory annotation); a ConfigMap's data is the data sent; every
// field sent under spec is there with the value sent (the API server adds
// defaults beside them).
func checkLive(t *testing.T, dyn dynamic.Interface, ns, cluster string, want map[string]any) {
	t.Helper()
	apiVersion, _ := want["apiVersion"].(string)
	kind, _ := want["kind"].(string)
	meta, _ := want["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		t.Fatal(err)
	}
	gvr := gv.WithResource(strings.ToLower(kind) + "s")
	live, err := dyn.Resource(gvr).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("%s %s: %v", kind, name, err)
	}
	subject := kind + "/" + name

	wantLabels := strings2(meta["labels"])
	wantLabels["app.vworkspace.io/cluster-id"] = cluster
	if diff := cmp.Diff(wantLabels, live.GetLabels()); diff != "" {
		t.Errorf("%s labels (-want +got):\n%s", subject, diff)
	}
	gotAnnotations := live.GetAnnotations()
	wantAnnotations := strings2(meta["annotations"])
	if inv := gotAnnotations["config.k8s.io/owning-inventory"]; strings.HasPrefix(inv, "pushd-") {
		wantAnnotations["config.k8s.io/owning-inventory"] = inv
	} else {
		t.Errorf("%s: owning-inventory annotation %q, want pushd's", subject, inv)
	}
	if diff := cmp.Diff(wantAnnotations, gotAnnotations); diff != "" {
		t.Errorf("%s annotations (-want +got):\n%s", subject, diff)
	}
	if data, ok := want["data"]; ok {
		if diff := cmp.Diff(data, live.Object["data"]); diff != "" {
			t.Errorf("%s data (-want +got):\n%s", subject, diff)
		}
	}
	if spec, ok := want["spec"]; ok {
		if path, ok := contains(live.Object["spec"], spec, "spec"); !ok {
			t.Errorf("%s: %s is not what was sent\nsent: %v\nlive: %v", subject, path, spec, live.Object["spec"])
		}
	}
}

// strings2 is a metadata map of the object sent, as a fresh map[string]string.
func strings2(v any) map[string]string {
	out := map[string]string{}
	m, _ := v.(map[string]any)
	for k, v := range m {
		out[k], _ = v.(string)
	}
	return out
}

// contains reports whether live holds every field of want with want's
// value (lists element by element, same length), and where it does not.
func contains(live, want any, path string) (string, bool) {
	switch w := want.(type) {
	case map[string]any:
		l, ok := live.(map[string]any)
		if !ok {
			return path, false
		}
		for k, v := range w {
			if p, ok := contains(l[k], v, path+"."+k); !ok {
				return p, false
			}
		}
		return "", true
	case []any:
		l, ok := live.([]any)
		if !ok || len(l) != len(w) {
			return path, false
		}
		for i := range w {
			if p, ok := contains(l[i], w[i], fmt.Sprintf("%s[%d]", path, i)); !ok {
				return p, false
			}
		}
		return "", true
	default:
		// Numbers are float64 from YAML and int64 from the API server.
		return path, fmt.Sprint(live) == fmt.Sprint(want)
	}
}

// playDeploymentController does what kube-controller-manager's Deployment
// controller would, which the test bed does not run (nor kubelets): it
// marks each Deployment of ns rolled out and available with all its
// replicas, so that kstatus sees it Current. It stops when the returned
// function is called.
func playDeploymentController(kube kubernetes.Interface, ns string) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			list, err := kube.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				continue // the next tick tries again
			}
			for _, d := range list.Items {
				if d.Status.ObservedGeneration == d.Generation {
					continue
				}
				n := int32(1)
				if d.Spec.Replicas != nil {
					n = *d.Spec.Replicas
				}
				d.Status = appsv1.DeploymentStatus{
					ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n,
					Conditions: []appsv1.DeploymentCondition{
						{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "MinimumReplicasAvailable"},
						{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "NewReplicaSetAvailable"},
					},
				}
				kube.AppsV1().Deployments(ns).UpdateStatus(ctx, &d, metav1.UpdateOptions{}) // a conflict: the next tick
			}
		}
	}()
	return func() { cancel(); <-done }
}
