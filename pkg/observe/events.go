package observe

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/vworkspace/pushd/pkg/inventory"
	"github.com/vworkspace/pushd/pkg/store"
)

// newEvent is an outbox row about one of the cluster's applications; like
// every event, its data carries the cluster id.
func newEvent(typ, org, cluster string, data map[string]any) *store.Event {
	data["cluster_id"] = cluster
	b, _ := json.Marshal(data)
	return &store.Event{ID: "evt_" + uuid.NewString(), Type: typ, Organization: org, Cluster: cluster, Data: string(b)}
}

func healthEvent(org, cluster string, k inventory.Key, health, previous string, at time.Time) *store.Event {
	return newEvent(EventHealthChanged, org, cluster, map[string]any{
		"namespace": k.Namespace, "application": k.Application,
		"health": health, "previous_health": previous, "checked_at": at.UTC(),
	})
}

// Drift events name their reference: the job whose manifests were
// compared (Odoo's latest intent for the application).
func driftDetectedEvent(org, cluster string, k inventory.Key, mode string, objects []Object, correction, reference string, at time.Time) *store.Event {
	return newEvent(EventDriftDetected, org, cluster, map[string]any{
		"namespace": k.Namespace, "application": k.Application, "mode": mode,
		"checked_at": at.UTC(), "objects": objects, "correction_job": nullable(correction), "reference_job": reference,
	})
}

func driftResolvedEvent(org, cluster string, k inventory.Key, correction, reference string, at time.Time) *store.Event {
	return newEvent(EventDriftResolved, org, cluster, map[string]any{
		"namespace": k.Namespace, "application": k.Application,
		"checked_at": at.UTC(), "correction_job": nullable(correction), "reference_job": reference,
	})
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
