package observe_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/internal/fleettest"
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/health"
	"github.com/vworkspace/pushd/pkg/jobs"
	"github.com/vworkspace/pushd/pkg/observe"
	"github.com/vworkspace/pushd/pkg/outbox"
	"github.com/vworkspace/pushd/pkg/store"
	"github.com/vworkspace/pushd/pkg/webhook"
	"github.com/vworkspace/pushd/pkg/workers"
)

// panicky is a transport that panics on every request while its cluster
// (or, for callbacks, a body naming it) is the victim: a bug hit in one
// cluster's work, in whichever goroutine makes the request.
type panicky struct {
	victim *atomic.Value // cluster id
	rt     http.RoundTripper
	match  func(*http.Request) string // what names the request's cluster
}

func (p panicky) RoundTrip(r *http.Request) (*http.Response, error) {
	if v, _ := p.victim.Load().(string); v != "" && strings.Contains(p.match(r), v) {
		panic("injected: a bug hit by cluster " + v)
	}
	return p.rt.RoundTrip(r)
}

// CancelRequest: requests are cancelled through their contexts.
func (panicky) CancelRequest(*http.Request) {}

// TestPanicTouchesNoOtherCluster: every request to one cluster panics — in
// its probes, status polls, drift checks, jobs and callbacks alike. Each
// panic is recovered where the goroutine was started and counted by kind;
// the cluster's job fails with internal_error, announced once; the
// cluster's loops come back after a backoff (and panic again); and the
// other cluster's job, polls, checks and callbacks carry on.
func TestPanicTouchesNoOtherCluster(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		victim := &atomic.Value{}
		victim.Store("")
		env := fleettest.NewEnv(t, db, fleettest.Options{
			Clients: clusters.ClientOptions{Timeout: 5 * time.Second, WrapTransport: func(cluster string, rt http.RoundTripper) http.RoundTripper {
				// Namespaced requests only: discovery, which a submission
				// makes in the caller's goroutine, goes through.
				return panicky{victim: victim, rt: rt, match: func(r *http.Request) string {
					if strings.Contains(r.URL.Path, "/namespaces/") {
						return cluster
					}
					return ""
				}}
			}},
			Monitor: health.MonitorOptions{Interval: 300 * time.Millisecond},
		}, clusters.Drift{Mode: clusters.DriftReport, Schedule: "* * * * *"}, bed.Clusters()...)
		h := &harness{Env: env}
		h.watcher = observe.NewWatcher(h.Store, h.Registry, h.Monitor, observe.Options{PollInterval: 300 * time.Millisecond,
			ScheduleSync: 200 * time.Millisecond, Schedules: everySecond{}, Corrector: h.Service, Logger: h.Logger})
		bad, good := h.IDs[0], h.IDs[1]

		// Callbacks: the receiver records what reaches it; a body about the
		// bad cluster panics in the sender's transport.
		recv := fleettest.NewReceiver(t, nil)
		secret, err := webhook.ParseSecret("whsec_Y2FsbGJhY2stc2VjcmV0LWZvci10ZXN0cw==")
		if err != nil {
			t.Fatal(err)
		}
		client := &http.Client{Transport: panicky{victim: victim, rt: http.DefaultTransport, match: func(r *http.Request) string {
			b, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(b))
			return string(b)
		}}}
		deliverer := outbox.New(h.Store, recv.URL, secret, outbox.Options{Client: client, PollInterval: 100 * time.Millisecond, Logger: h.Logger})

		kinds := []string{"probe", "poll", "drift", "job", "callback"}
		before := map[string]float64{}
		for _, k := range kinds {
			before[k] = testutil.ToFloat64(workers.Panics.WithLabelValues(k))
		}
		var wg sync.WaitGroup
		wg.Go(func() { h.Monitor.Run(ctx) })
		wg.Go(func() { h.watcher.Run(ctx) })
		wg.Go(func() { deliverer.Run(ctx) })
		defer func() { cancel(); wg.Wait() }()

		victim.Store(bad)
		for _, id := range h.IDs {
			h.Submit(t, jobs.Spec{ID: "p-" + id, Cluster: id, Operation: jobs.Operation{Engine: "manifest", Type: "deploy"},
				Application: "nextcloud", Namespace: h.NS, Action: jobs.ActionApply, TimeoutSeconds: 60,
				Manifests: []json.RawMessage{configMap("settings", map[string]string{"a": "1"})}})
		}
		if j := h.Wait(t, "p-"+bad, time.Minute); j.Status != store.JobFailed || j.Error == nil || j.Error.Code != "internal_error" {
			t.Fatalf("job of the cluster that panics: %s %+v (want failed, internal_error)", j.Status, j.Error)
		}
		if j := h.Wait(t, "p-"+good, time.Minute); j.Status != store.JobSucceeded {
			t.Fatalf("job of the other cluster: %s %+v", j.Status, j.Error)
		}
		terminal := 0
		for _, e := range h.events(t, bad, jobs.EventStatusChanged) {
			if e.Data["id"] == "p-"+bad && e.Data["status"] != string(store.JobQueued) && e.Data["status"] != string(store.JobRunning) {
				terminal++
			}
		}
		if terminal != 1 {
			t.Fatalf("%d terminal events of the job that panicked, want 1", terminal)
		}

		defer func() {
			for _, k := range kinds {
				t.Logf("panics of kind %s: %v", k, testutil.ToFloat64(workers.Panics.WithLabelValues(k))-before[k])
			}
		}()
		waitFor(t, "a panic of every kind, the loops back after their backoff", func() bool {
			for _, k := range kinds {
				want := 2.0 // each loop came back and panicked again
				if k == "job" || k == "callback" {
					want = 1 // a job fails once; an event is sent again once its claim lapses
				}
				if testutil.ToFloat64(workers.Panics.WithLabelValues(k))-before[k] < want {
					return false
				}
			}
			return true
		})
		waitFor(t, "the other cluster polled, checked and its callbacks delivered", func() bool {
			d, err := h.watcher.Application(ctx, good, h.NS, "nextcloud")
			if err != nil || d.Health != "Current" || d.Drift != observe.DriftInSync {
				return false
			}
			for _, b := range recv.Bodies() {
				if strings.Contains(b, "p-"+good) && strings.Contains(b, `"status":"succeeded"`) {
					return true
				}
			}
			return false
		})
		for _, b := range recv.Bodies() {
			if strings.Contains(b, bad) {
				t.Fatalf("a callback about the cluster whose sends panic was delivered: %s", b)
			}
		}
	})
}
