package observe_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/observe"
)

// slowTransport delays every request, as a cluster behind a bad link would.
type slowTransport struct {
	next  http.RoundTripper
	delay time.Duration
}

func (t slowTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	select {
	case <-time.After(t.delay):
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
	return t.next.RoundTrip(r)
}

// slowClusters is the registry, except that one cluster answers slowly.
type slowClusters struct {
	*clusters.Registry
	id      string
	clients *clusters.Clients
}

func (c slowClusters) Clients(id string) (*clusters.Clients, error) {
	if id == c.id {
		return c.clients, nil
	}
	return c.Registry.Clients(id)
}

// TestSlowClusterDelaysNoOther makes every request to one cluster take 2 s:
// the other cluster's scheduled drift check reports its drift within a few
// seconds all the same, while the slow one's checks are still crawling.
func TestSlowClusterDelaysNoOther(t *testing.T) {
	dbtest.EachContext(t, func(t *testing.T, ctx context.Context, db dbtest.Database) {
		h := newHarness(t, db, observe.Options{}, bed.Clusters()...)
		fast, slow := h.IDs[0], h.IDs[1]
		for _, id := range h.IDs {
			h.deploy(t, "deploy-"+id, id, "nextcloud", app("nextcloud"), configMap("settings", map[string]string{"a": "1"}))
		}
		cred, _, err := h.Creds.Load(slow)
		if err != nil {
			t.Fatal(err)
		}
		cfg := cred.RESTConfig()
		cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { return slowTransport{rt, 2 * time.Second} }
		slowClients, err := clusters.NewClients(slow, cfg, clusters.ClientOptions{Timeout: 30 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		w := observe.NewWatcher(h.Store, slowClusters{h.Registry, slow, slowClients}, h.Monitor, observe.Options{
			PollInterval: 200 * time.Millisecond, ScheduleSync: 100 * time.Millisecond, Corrector: h.Service, Schedules: everySecond{}})
		if err := w.CheckDrift(ctx, fast); err != nil { // baseline: in sync
			t.Fatal(err)
		}
		for _, id := range h.IDs {
			h.put(t, id, clusters.Drift{Schedule: "* * * * *", Mode: clusters.DriftReport})
		}
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { w.Run(runCtx); close(done) }()
		defer func() { cancel(); <-done }()

		time.Sleep(1500 * time.Millisecond) // the slow cluster's first poll and check are under way
		start := time.Now()
		someone(t, bed.Clusters()[0], configMaps, map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": "settings", "namespace": h.NS}, "data": map[string]any{"a": "2"}})
		for len(h.events(t, fast, observe.EventDriftDetected)) == 0 {
			if time.Since(start) > 5*time.Second {
				t.Fatal("the fast cluster's drift was not reported within 5 s")
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("fast cluster's drift reported %s after the change", time.Since(start).Round(time.Millisecond))
	})
}
