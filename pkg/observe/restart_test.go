package observe_test

import (
	"context"
	"testing"
	"time"

	"github.com/vworkspace/pushd/internal/testbed"
	"github.com/vworkspace/pushd/internal/testbed/operator"
	"github.com/vworkspace/pushd/pkg/observe"
)

// TestRestartKeepsWhatOdooWasTold restarts the watcher over an emptied
// outbox while an application is drifted: what Odoo was last told is kept
// in the store, not rebuilt from events, so the restarted watcher sends no
// second drift.detected, still sends drift.resolved when the drift goes,
// and counts a health change from the health Odoo last heard of.
func TestRestartKeepsWhatOdooWasTold(t *testing.T) {
	eachOn(t, 0, observe.Options{}, func(t *testing.T, ctx context.Context, h *harness, c *testbed.Cluster, id string) {
		settings := func(value string) map[string]any {
			return map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
				"metadata": map[string]any{"name": "settings", "namespace": h.NS}, "data": map[string]any{"a": value}}
		}
		check := func(t *testing.T, want observe.DriftState) {
			t.Helper()
			h.checkDrift(t, id, want)
		}

		h.deploy(t, "deploy-1", id, "nextcloud", app("nextcloud"), configMap("settings", map[string]string{"a": "1"}))
		check(t, observe.DriftInSync)
		someone(t, c, configMaps, settings("changed"))
		check(t, observe.DriftDrifted)
		if ev := h.events(t, id, observe.EventDriftDetected); len(ev) != 1 {
			t.Fatalf("drift.detected events before the restart: %+v", ev)
		}

		// The restart: a new watcher, and an outbox with nothing in it.
		if _, err := h.Store.PruneUnsentEvents(ctx, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		h.watcher = observe.NewWatcher(h.Store, h.Registry, h.Monitor, observe.Options{Corrector: h.Service})

		check(t, observe.DriftDrifted)
		if ev := h.events(t, id, observe.EventDriftDetected); len(ev) != 0 {
			t.Fatalf("drift.detected sent again after the restart: %+v", ev)
		}
		someone(t, c, configMaps, settings("1"))
		check(t, observe.DriftInSync)
		if ev := h.events(t, id, observe.EventDriftResolved); len(ev) != 1 || ev[0].Data["application"] != "nextcloud" {
			t.Fatalf("drift.resolved events after the restart: %+v", ev)
		}

		// Health: Odoo last heard Current; the first change after the
		// restart is counted from there.
		someone(t, c, operator.Applications, map[string]any{
			"apiVersion": "vworkspace.io/v1alpha1", "kind": "Application",
			"metadata": map[string]any{"name": "nextcloud", "namespace": h.NS, "annotations": map[string]any{
				operator.OutcomeAnnotation: operator.OutcomeFail}},
			"spec": map[string]any{"values": map[string]any{"flip": "1"}},
		})
		deadline := time.Now().Add(30 * time.Second)
		for h.appOf(t, id, "nextcloud").Health != "Failed" {
			if time.Now().After(deadline) {
				t.Fatalf("health still %s", h.appOf(t, id, "nextcloud").Health)
			}
			time.Sleep(200 * time.Millisecond)
			if err := h.watcher.Poll(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
		ev := h.events(t, id, observe.EventHealthChanged)
		if len(ev) == 0 || ev[0].Data["previous_health"] != "Current" {
			t.Fatalf("health_changed events after the restart: %+v", ev)
		}
	})
}
