package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vworkspace/pushd/internal/blackbox"
	"github.com/vworkspace/pushd/internal/contracttest"
	"github.com/vworkspace/pushd/internal/faultcheck"
	"github.com/vworkspace/pushd/internal/fleettest"
	"github.com/vworkspace/pushd/internal/pushdproc"
	"github.com/vworkspace/pushd/internal/testbed"
	"github.com/vworkspace/pushd/internal/testbed/operator"
)

// daemon is a pushd process and Odoo's client of it.
type daemon struct {
	*pushdproc.Proc
	client *pushdproc.Client
}

// startDaemon starts pushd on addr with env (blackbox.Env).
func startDaemon(t *testing.T, addr string, env []string) *daemon {
	t.Helper()
	p := suite.Start(t, addr, env)
	return &daemon{Proc: p, client: blackbox.Client(p.Base)}
}

var msgSeq int

// write sends a signed write under a new webhook-id and checks the answer
// against the contract.
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

// read GETs path with the read token.
func (d *daemon) read(t *testing.T, path string) []byte {
	t.Helper()
	resp, err := d.client.Read(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Body
}

func (d *daemon) job(t *testing.T, id string) (status string, err error) {
	return d.client.JobStatus(context.Background(), id)
}

// terminal is whether a job's status is final.
func terminal(status string) bool {
	return status == "succeeded" || status == "failed" || status == "cancelled"
}

// enroll registers test-bed cluster c as id, for applications in namespace
// ns, with the test bed's admin token as its credential.
func (d *daemon) enroll(t *testing.T, id string, c *testbed.Cluster, ns string, applications ...string) {
	t.Helper()
	if code, b := d.write(t, http.MethodPut, "/api/v1/clusters/"+id, blackbox.Record([]string{ns}, applications)); code != 201 {
		t.Fatalf("cluster %s: %d %s", id, code, b)
	}
	if code, b := d.write(t, http.MethodPut, "/api/v1/clusters/"+id+"/kubeconfig", blackbox.AdminKubeconfig(c)); code != 200 {
		t.Fatalf("kubeconfig %s: %d %s", id, code, b)
	}
}

// managedNamespace creates a namespace pushd may manage in c.
func managedNamespace(t *testing.T, c *testbed.Cluster) string {
	t.Helper()
	ns := "e2e-" + fleettest.RandomID()
	fleettest.ManagedNamespace(t, c, ns)
	return ns
}

// applicationJob is a job applying one Application that becomes Ready a
// second after it is written.
func applicationJob(id, cluster, namespace, application string, round int) []byte {
	body, _ := json.Marshal(map[string]any{
		"id": id, "cluster": cluster, "operation": map[string]string{"engine": "manifest", "type": "deploy"},
		"application": application, "namespace": namespace, "action": "apply", "timeout_seconds": 60,
		"manifests": []any{map[string]any{
			"apiVersion": "vworkspace.io/v1alpha1", "kind": "Application",
			"metadata": map[string]any{"name": application, "annotations": map[string]string{operator.DelayAnnotation: "1s"}},
			"spec":     map[string]any{"round": round},
		}},
	})
	return body
}

// waitFor polls cond every 100ms until it holds, failing the test after
// within; it returns cond's last value.
func waitFor[T any](t *testing.T, within time.Duration, what string, cond func() (T, bool)) T {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		v, ok := cond()
		if ok {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s (last: %v)", what, within, v)
		}
		time.Sleep(100 * time.Millisecond)
	}
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

// countEvents counts the events of type typ whose data contains has, by
// cluster: distinct webhook-ids, since a delivery retried (its sender died
// before the answer was recorded) keeps its id.
func countEvents(r *faultcheck.Receiver, typ, has string) map[string]int {
	out := map[string]int{}
	seen := map[string]bool{}
	for _, cb := range r.Deliveries() {
		if seen[cb.WebhookID] {
			continue
		}
		seen[cb.WebhookID] = true
		if cb.Type != typ || !strings.Contains(string(cb.Data), has) {
			continue
		}
		var d struct {
			ClusterID string `json:"cluster_id"`
		}
		json.Unmarshal(cb.Data, &d)
		out[d.ClusterID]++
	}
	return out
}
