package observe_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/internal/fleettest"
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/observe"
)

// TestUnreachableClusterIsUnknown runs the watcher on two clusters and
// stops one: its applications become unknown and no drift event is
// recorded for it, while the other's cron-driven drift check — scheduled
// after the watcher started — reports drift as usual. Once restarted, the
// stopped cluster is in sync again without any event.
func TestUnreachableClusterIsUnknown(t *testing.T) {
	dbtest.EachContext(t, func(t *testing.T, ctx context.Context, db dbtest.Database) {
		h := newHarness(t, db, observe.Options{PollInterval: 300 * time.Millisecond, ScheduleSync: 200 * time.Millisecond, Schedules: everySecond{}}, bed.Clusters()...)
		live, dead := h.IDs[0], h.IDs[1]
		w := h.watcher
		for _, id := range h.IDs {
			h.deploy(t, "deploy-"+id, id, "nextcloud", app("nextcloud"), configMap("settings", map[string]string{"a": "1"}))
			if err := w.CheckDrift(ctx, id); err != nil {
				t.Fatal(err)
			}
			if d := h.appOf(t, id, "nextcloud"); d.Drift != observe.DriftInSync || d.Health != "Current" {
				t.Fatalf("%s: %s %s", id, d.Drift, d.Health)
			}
		}
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { w.Run(runCtx); close(done) }()
		defer func() { cancel(); <-done }()

		victim := bed.Clusters()[1]
		fleettest.Outage(t, victim)
		// Schedules set after Run started are picked up without a restart.
		h.put(t, live, clusters.Drift{Schedule: "* * * * *", Mode: clusters.DriftReport})
		h.put(t, dead, clusters.Drift{Schedule: "* * * * *", Mode: clusters.DriftReport})
		someone(t, bed.Clusters()[0], configMaps, map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": "settings", "namespace": h.NS}, "data": map[string]any{"a": "2"}})

		deadline := time.Now().Add(30 * time.Second)
		for len(h.events(t, live, observe.EventDriftDetected)) == 0 {
			if time.Now().After(deadline) {
				t.Fatal("no drift.detected from the scheduled check of the live cluster")
			}
			time.Sleep(200 * time.Millisecond)
		}
		if total, drifted := w.Counts(live); total != 1 || drifted != 1 {
			t.Fatalf("counts of the live cluster: %d total, %d drifted", total, drifted)
		}
		if _, err := w.RequestDriftCheck(ctx, live); err != nil {
			t.Fatalf("on-demand check: %v", err)
		}

		if err := w.CheckDrift(ctx, dead); !errors.Is(err, observe.ErrUnreachable) {
			t.Fatalf("check of the stopped cluster: %v", err)
		}
		apps, err := w.Applications(ctx, dead)
		if err != nil {
			t.Fatal(err)
		}
		if len(apps) != 1 || apps[0].Health != "Unknown" || apps[0].Drift != observe.DriftUnknown {
			t.Fatalf("stopped cluster's applications: %+v", apps)
		}
		d := h.appOf(t, dead, "nextcloud")
		for _, o := range d.Objects {
			if o.Drifted || o.Missing || o.Status != "Unknown" {
				t.Fatalf("object of the stopped cluster: %+v", o)
			}
		}
		for _, typ := range []string{observe.EventDriftDetected, observe.EventDriftResolved, observe.EventHealthChanged} {
			if ev := h.events(t, dead, typ); len(ev) != 0 {
				t.Fatalf("%s events for the stopped cluster: %+v", typ, ev)
			}
		}

		if err := victim.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if err := w.CheckDrift(ctx, dead); err != nil {
			t.Fatal(err)
		}
		if d := h.appOf(t, dead, "nextcloud"); d.Drift != observe.DriftInSync || d.Health != "Current" {
			t.Fatalf("after restart: %s %s", d.Drift, d.Health)
		}
		for _, typ := range []string{observe.EventDriftDetected, observe.EventDriftResolved, observe.EventHealthChanged} {
			if ev := h.events(t, dead, typ); len(ev) != 0 {
				t.Fatalf("%s events for the restarted cluster: %+v", typ, ev)
			}
		}
		if ev := h.events(t, live, observe.EventDriftDetected); len(ev) != 1 {
			t.Fatalf("drift.detected of the live cluster: %d, want exactly one", len(ev))
		}
	})
}
