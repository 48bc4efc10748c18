package fault

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/vworkspace/pushd/internal/blackbox"
	"github.com/vworkspace/pushd/internal/contracttest"
	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/internal/faultcheck"
	"github.com/vworkspace/pushd/internal/fleettest"
	"github.com/vworkspace/pushd/internal/logbuf"
	"github.com/vworkspace/pushd/internal/pushdproc"
	"github.com/vworkspace/pushd/internal/testbed"
	"github.com/vworkspace/pushd/internal/testbed/operator"
	"github.com/vworkspace/pushd/pkg/config"
	"github.com/vworkspace/pushd/pkg/store"
)

// apps are the applications every run's records allow; "app-x" is not
// allowed, so a job for it is a refusal.
var apps = []string{"app-0", "app-1", "app-2"}

// run is one pushd on one database, started again as often as a suite
// kills it, with the test-bed clusters enrolled under ids fault-1, fault-2…
// It remembers every answer pushd gave, for faultcheck.
type run struct {
	t        *testing.T
	db       dbtest.Database
	opts     pushdproc.Options
	proc     *pushdproc.Proc
	client   *pushdproc.Client
	recv     *faultcheck.Receiver
	ns       string                      // the run's namespace, on every cluster
	clusters map[string]*testbed.Cluster // pushd id → test-bed cluster

	msgs atomic.Int64 // webhook-ids sent

	mu    sync.Mutex
	acked map[faultcheck.JobRef][]json.RawMessage
	// operations are the acknowledged operate jobs, by id.
	operations map[string]jobSpec
	refused    []faultcheck.JobRef
	answers    map[int]int // status → count
	// inProgress counts the 409 request_in_progress answers: a kill while
	// pushd handled the request.
	inProgress int
}

// newRun starts pushd on db with the clusters cs enrolled; env adds to (or
// overrides) the run's PUSHD_* settings.
func newRun(t *testing.T, db dbtest.Database, cs []*testbed.Cluster, env ...string) *run {
	t.Helper()
	recv := blackbox.Receiver(t)
	addr := blackbox.Addr(t)
	r := &run{
		t: t, db: db, recv: recv, ns: "fault-" + fleettest.RandomID(), clusters: map[string]*testbed.Cluster{},
		acked: map[faultcheck.JobRef][]json.RawMessage{}, operations: map[string]jobSpec{}, answers: map[int]int{},
		opts: pushdproc.Options{Binary: suite.Binary, Addr: addr, Log: &logbuf.Buffer{},
			Env: blackbox.Env(t, db, recv, append([]string{"PUSHD_LOG_LEVEL=info"}, env...)...)},
		client: blackbox.Client("http://" + addr),
	}
	t.Cleanup(func() {
		if r.proc != nil {
			r.proc.Kill9()
		}
		if t.Failed() {
			t.Logf("pushd's log, last lines:\n%s", tail(r.opts.Log.String(), 150))
		}
	})
	r.start()
	for i, c := range cs {
		id := fmt.Sprintf("fault-%d", i+1)
		fleettest.ManagedNamespace(t, c, r.ns)
		r.enroll(id, c)
		r.clusters[id] = c
	}
	return r
}

// enroll creates cluster id's record through the API and gives it the test
// bed's admin token as its credential (the record accepts the excess rights).
func (r *run) enroll(id string, c *testbed.Cluster) {
	r.t.Helper()
	ctx := context.Background()
	if resp := r.write(ctx, http.MethodPut, "/api/v1/clusters/"+id, blackbox.Record([]string{r.ns}, apps, operateType)); resp == nil || resp.Status != http.StatusCreated {
		r.t.Fatalf("cluster %s: %+v", id, resp)
	}
	if resp := r.write(ctx, http.MethodPut, "/api/v1/clusters/"+id+"/kubeconfig", blackbox.AdminKubeconfig(c)); resp == nil || resp.Status != http.StatusOK {
		r.t.Fatalf("cluster %s: kubeconfig: %+v", id, resp)
	}
}

// start starts pushd (again) on the run's address and database.
func (r *run) start() {
	r.t.Helper()
	p, err := pushdproc.Start(r.opts)
	if err != nil {
		r.t.Fatalf("%v\n%s", err, tail(r.opts.Log.String(), 100))
	}
	r.proc = p
}

// kill9 kills pushd with SIGKILL.
func (r *run) kill9() { r.proc.Kill9(); r.proc = nil }

// write sends a signed write under a new webhook-id and, as Odoo does,
// sends it again under the same id while pushd cannot answer (no
// connection) or asks for a retry (429, 503), until ctx ends (an error,
// and nil). A pushd on PostgreSQL killed while handling a request leaves
// its webhook-id in progress (409 request_in_progress) until the mark is two
// minutes old and a retry takes it over (on SQLite the restarted pushd
// forgets such marks); rather than wait minutes, write sends it again under
// a new webhook-id, which the job id (or the record's id) keeps idempotent.
// Every answer is checked against the contract; 500 never is one. Safe from
// any goroutine.
func (r *run) write(ctx context.Context, method, path string, body []byte) *pushdproc.Response {
	id := r.newMessageID()
	for {
		resp, err := r.client.Write(ctx, method, path, id, body)
		if err == nil && resp.Status == http.StatusConflict && strings.Contains(string(resp.Body), `"request_in_progress"`) {
			r.mu.Lock()
			r.inProgress++
			r.mu.Unlock()
			id = r.newMessageID()
			continue
		}
		if err == nil {
			contracttest.Check(r.t, resp.Request, resp.Status, resp.Header, resp.Body)
			r.mu.Lock()
			r.answers[resp.Status]++
			r.mu.Unlock()
			if resp.Status >= 500 && resp.Status != http.StatusServiceUnavailable {
				r.t.Errorf("%s %s answered %d: %s", method, path, resp.Status, resp.Body)
			}
			if resp.Status != http.StatusTooManyRequests && resp.Status != http.StatusServiceUnavailable {
				return resp
			}
		}
		select {
		case <-ctx.Done():
			r.t.Errorf("%s %s (webhook-id %s) never answered: %v", method, path, id, err)
			return nil
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (r *run) newMessageID() string { return fmt.Sprintf("msg-%s-%d", r.ns, r.msgs.Add(1)) }

// get reads path without retrying; a failed connection is status 0.
func (r *run) get(ctx context.Context, path string) *pushdproc.Response {
	resp, err := r.client.Read(ctx, path)
	if err != nil {
		return &pushdproc.Response{}
	}
	contracttest.Check(r.t, resp.Request, resp.Status, resp.Header, resp.Body)
	return resp
}

// jobSpec is one job the suites submit.
type jobSpec struct {
	id, cluster, app string
	// extra adds a second ConfigMap, so jobs without it prune it.
	extra bool
	// delay is how long the stand-in operator takes to make the
	// Application Ready (kstatus waits for it).
	delay   time.Duration
	timeout int // timeout_seconds; 300 when 0
	// operate makes it an operate job: one Operation (operationName), whose
	// output "job" is the job's id, in an inventory of its own.
	operate bool
}

// operateType is the operation type the runs' records allow for operate
// jobs: the vWorkspace Operation contract, no rules.
var operateType = map[string]string{"engine": "vworkspace", "type": "backup"}

// operationName is the name of an operate job's Operation.
func (s jobSpec) operationName() string { return "op-" + strings.ToLower(s.id) }

// manifests are the job's objects; each carries the job's id, so an object
// left from a superseded job shows.
func (s jobSpec) manifests() []json.RawMessage {
	if s.operate {
		return []json.RawMessage{fleettest.Manifest("vworkspace.io/v1alpha1", "Operation", s.operationName(),
			map[string]string{operator.DelayAnnotation: s.delay.String(), operator.OutputsAnnotation: `{"job":"` + s.id + `"}`},
			map[string]any{"spec": map[string]any{"job": s.id}})}
	}
	out := []json.RawMessage{
		fleettest.Manifest("vworkspace.io/v1alpha1", "Application", s.app,
			map[string]string{operator.DelayAnnotation: s.delay.String()}, map[string]any{"spec": map[string]any{"job": s.id}}),
		fleettest.Manifest("v1", "ConfigMap", s.app+"-cfg", nil, map[string]any{"data": map[string]any{"job": s.id}}),
	}
	if s.extra {
		out = append(out, fleettest.Manifest("v1", "ConfigMap", s.app+"-extra", nil, map[string]any{"data": map[string]any{"job": s.id}}))
	}
	return out
}

// body is the job's request body, for namespace ns.
func (s jobSpec) body(ns string) []byte {
	op, action := map[string]string{"engine": "manifest", "type": "deploy"}, "apply"
	if s.operate {
		op, action = operateType, "operate"
	}
	b, _ := json.Marshal(map[string]any{
		"id": s.id, "cluster": s.cluster, "operation": op,
		"application": s.app, "namespace": ns, "action": action, "timeout_seconds": s.timeout, "manifests": s.manifests(),
	})
	return b
}

// submit sends the job and records pushd's answer: 2xx acknowledged, 4xx
// refused.
func (r *run) submit(ctx context.Context, s jobSpec) int {
	if s.timeout == 0 {
		s.timeout = 300
	}
	ms := s.manifests()
	resp := r.write(ctx, http.MethodPost, "/api/v1/jobs", s.body(r.ns))
	if resp == nil {
		return 0
	}
	ref := faultcheck.JobRef{Organization: config.DefaultOrganization, ID: s.id}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case resp.Status < 300:
		r.acked[ref] = ms
		if s.operate {
			r.operations[s.id] = s
		}
	case resp.Status < 500:
		r.refused = append(r.refused, ref)
	}
	return resp.Status
}

// cancel asks pushd to cancel a job.
func (r *run) cancel(ctx context.Context, id string) int {
	resp := r.write(ctx, http.MethodPost, "/api/v1/jobs/"+id+"/cancel", []byte("{}"))
	if resp == nil {
		return 0
	}
	if resp.Status != http.StatusOK && resp.Status != http.StatusAccepted {
		r.t.Errorf("cancel %s: %d %s", id, resp.Status, resp.Body)
	}
	return resp.Status
}

// ackedIDs lists the acknowledged jobs' ids.
func (r *run) ackedIDs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := make([]string, 0, len(r.acked))
	for ref := range r.acked {
		ids = append(ids, ref.ID)
	}
	return ids
}

// checkOperations holds each acknowledged operate job that did not end
// cancelled to its outcome — succeeded, its output the job's id — and
// every one to its Operation having been created at most once (exactly
// once for those that succeeded), across every kill.
func (r *run) checkOperations(ctx context.Context, statuses map[string]string) {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	succeeded := 0
	defer func() {
		r.t.Logf("%d operations, %d of them succeeded, none created twice", len(r.operations), succeeded)
	}()
	for id, s := range r.operations {
		created := operator.For(r.clusters[s.cluster].Host).Created(operator.Operations, r.ns, s.operationName())
		if created > 1 {
			r.t.Errorf("operate job %s: its Operation was created %d times", id, created)
		}
		if statuses[id] == string(store.JobCancelled) {
			continue
		}
		resp := r.get(ctx, "/api/v1/jobs/"+id)
		var job struct {
			Status string `json:"status"`
			Result *struct {
				Outputs map[string]any `json:"outputs"`
			} `json:"result"`
		}
		if resp == nil || json.Unmarshal(resp.Body, &job) != nil {
			r.t.Errorf("operate job %s: no answer", id)
			continue
		}
		if job.Status != string(store.JobSucceeded) || job.Result == nil || job.Result.Outputs["job"] != id || created != 1 {
			r.t.Errorf("operate job %s: %s, result %+v, created %d times", id, job.Status, job.Result, created)
			continue
		}
		succeeded++
	}
}

// waitTerminal waits until every acknowledged job is terminal, reading
// through the API, and returns each one's status.
func (r *run) waitTerminal(ctx context.Context) map[string]string {
	r.t.Helper()
	out := map[string]string{}
	for _, id := range r.ackedIDs() {
		for {
			st, err := r.client.JobStatus(ctx, id)
			if err == nil && (st == string(store.JobSucceeded) || st == string(store.JobFailed) || st == string(store.JobCancelled)) {
				out[id] = st
				break
			}
			select {
			case <-ctx.Done():
				r.t.Fatalf("job %s still %q (%v)", id, st, err)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return out
}

var backlogLine = regexp.MustCompile(`(?m)^pushd_callbacks_backlog (\S+)$`)

// drain waits until the outbox is empty (pushd_callbacks_backlog is 0).
func (r *run) drain(ctx context.Context) {
	r.t.Helper()
	for {
		n := -1.0
		if resp, err := r.client.Read(ctx, "/metrics"); err == nil {
			if m := backlogLine.FindSubmatch(resp.Body); m != nil {
				n, _ = strconv.ParseFloat(string(m[1]), 64)
			}
		}
		if n == 0 {
			return
		}
		select {
		case <-ctx.Done():
			r.t.Fatalf("outbox not drained: backlog %v", n)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// check stops pushd (SIGTERM: a clean drain), opens its database and runs
// the invariant checker; every problem fails the test.
func (r *run) check(ctx context.Context) *faultcheck.Report {
	r.t.Helper()
	rep := r.report(ctx)
	r.t.Logf("checked: %d jobs %v (%d resumed after a lost claim), %d events (%d first delivered after a later one of another subject), %d deliveries (%d again), %d live objects compared, %d verified pruned; answers %v, %d of them 409 request_in_progress",
		rep.Jobs, rep.Statuses, rep.Resumed, rep.Events, rep.Reordered, rep.Deliveries, rep.Redelivered, rep.Objects, rep.Pruned, r.answerCounts(), r.inProgress)
	for _, n := range rep.Notes {
		r.t.Log(n)
	}
	for _, p := range rep.Problems {
		r.t.Error(p)
	}
	if n := r.recv.BadSignatures(); n > 0 {
		r.t.Errorf("%d callbacks with bad signatures", n)
	}
	return rep
}

// report stops pushd (SIGTERM: a clean drain), opens its database and
// returns what the invariant checker found.
func (r *run) report(ctx context.Context) *faultcheck.Report {
	r.t.Helper()
	if r.proc != nil {
		r.proc.Stop()
		r.proc = nil
	}
	st, err := store.Open(ctx, r.db.Driver, r.db.DSN, store.Options{})
	if err != nil {
		r.t.Fatalf("open the run's store: %v", err)
	}
	defer st.Close()
	cfgs := map[string]*rest.Config{}
	for id, c := range r.clusters {
		cfgs[id] = c.AdminConfig()
	}
	r.mu.Lock()
	in := faultcheck.Input{Store: st, Deliveries: r.recv.Deliveries(), Acked: r.acked, Refused: r.refused, Clusters: cfgs}
	rep, err := faultcheck.Check(ctx, in)
	r.mu.Unlock()
	if err != nil {
		r.t.Fatalf("invariant checker: %v", err)
	}
	return rep
}

func (r *run) answerCounts() map[int]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[int]int{}
	for k, v := range r.answers {
		out[k] = v
	}
	return out
}

// seed is PUSHD_FAULT_SEED when set (a replay), else a new one; it is logged
// either way, so a failing run can be replayed.
func seed(t *testing.T) uint64 {
	s := uint64(time.Now().UnixNano())
	if v := os.Getenv("PUSHD_FAULT_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("PUSHD_FAULT_SEED: %v", err)
		}
		s = n
	}
	t.Logf("seed %d (replay: PUSHD_FAULT_SEED=%d go test -run '^%s$' ./test/fault/)", s, s, t.Name())
	return s
}

func tail(s string, lines int) string {
	l := strings.Split(s, "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}
