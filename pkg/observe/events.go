package observe

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/vworkspace/pushd/pkg/inventory"
	"github.com/vworkspace/pushd/pkg/store"
)

// seedEvents bounds how far back the outbox is read for what Odoo was last
// told about a cluster's applications.
const seedEvents = 5000

// seed sets the baselines of st from the newest health and drift events the
// outbox holds for the cluster. The outbox is the record of what Odoo was
// told, so transitions are counted from there and survive restarts without a
// table of their own. An application without such an event gets its baseline
// from its first observation, silently.
func (w *Watcher) seed(ctx context.Context, cluster string, st *clusterState) error {
	events, err := w.store.ClusterEvents(ctx, cluster, []string{EventHealthChanged, EventDriftDetected, EventDriftResolved}, seedEvents)
	if err != nil {
		return err
	}
	healthSeen, driftSeen := map[inventory.Key]bool{}, map[inventory.Key]bool{}
	for _, e := range events { // newest first
		var d struct {
			Namespace     string  `json:"namespace"`
			Application   string  `json:"application"`
			Health        string  `json:"health"`
			CorrectionJob *string `json:"correction_job"`
		}
		if json.Unmarshal([]byte(e.Data), &d) != nil || d.Namespace == "" || d.Application == "" {
			continue
		}
		k := inventory.Key{Cluster: cluster, Namespace: d.Namespace, Application: d.Application}
		switch {
		case e.Type == EventHealthChanged && !healthSeen[k]:
			healthSeen[k] = true
			st.app(k).reportedHealth = d.Health
		case e.Type != EventHealthChanged && !driftSeen[k]:
			driftSeen[k] = true
			a := st.app(k)
			a.reportedDrift = DriftInSync
			if e.Type == EventDriftDetected {
				a.reportedDrift = DriftDrifted
				if d.CorrectionJob != nil {
					a.correction = *d.CorrectionJob
				}
			}
		}
	}
	return nil
}

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

func driftDetectedEvent(org, cluster string, k inventory.Key, mode string, objects []Object, correction string, at time.Time) *store.Event {
	return newEvent(EventDriftDetected, org, cluster, map[string]any{
		"namespace": k.Namespace, "application": k.Application, "mode": mode,
		"checked_at": at.UTC(), "objects": objects, "correction_job": nullable(correction),
	})
}

func driftResolvedEvent(org, cluster string, k inventory.Key, correction string, at time.Time) *store.Event {
	return newEvent(EventDriftResolved, org, cluster, map[string]any{
		"namespace": k.Namespace, "application": k.Application,
		"checked_at": at.UTC(), "correction_job": nullable(correction),
	})
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
