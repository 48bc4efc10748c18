package observe

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/cli-utils/pkg/object"

	"github.com/vworkspace/pushd/pkg/inventory"
	"github.com/vworkspace/pushd/pkg/store"
)

// load sets st's applications from the cluster's stored application
// states: what Odoo was last told, the baselines the next events are
// counted from. An application without a row gets its baseline from its
// first observation, silently.
func (w *Watcher) load(ctx context.Context, cluster string, st *clusterState) error {
	rows, err := w.store.ApplicationStates(ctx, cluster)
	if err != nil {
		return err
	}
	for _, r := range rows {
		k := inventory.Key{Cluster: cluster, Namespace: r.Namespace, Application: r.Application}
		a := &appState{reportedHealth: r.Health, reportedDrift: DriftState(r.Drift), correction: r.CorrectionJob,
			healthChangedAt: r.HealthChangedAt.UTC(), driftCheckedAt: r.DriftCheckedAt.UTC(), driftObjects: r.DriftObjects}
		// The last verdict that could tell stands until the next check.
		a.drift = DriftState(r.Drift)
		if a.drifted, err = decodeDrift(r.DriftObjects); err != nil {
			w.opts.Logger.Warn("stored drift objects not readable", "cluster", cluster, "namespace", r.Namespace,
				"application", r.Application, "err", err)
		}
		st.apps[k] = a
		st.saved[k] = a.row(k)
	}
	return nil
}

// save stores the states of apps, with events, in one transaction — unless
// no state changed, when only events (if any) are written.
func (w *Watcher) save(ctx context.Context, cluster string, st *clusterState, apps map[inventory.Key]*appState, events []*store.Event) error {
	rows := make(map[inventory.Key]store.ApplicationState, len(apps))
	for k, a := range apps {
		rows[k] = a.row(k)
	}
	if maps.Equal(rows, st.saved) {
		return w.store.AddEvents(ctx, events...)
	}
	list := slices.SortedFunc(maps.Values(rows), func(a, b store.ApplicationState) int {
		return strings.Compare(a.Namespace+"/"+a.Application, b.Namespace+"/"+b.Application)
	})
	if err := w.store.SaveApplicationStates(ctx, cluster, list, events...); err != nil {
		return err
	}
	st.saved = rows
	return nil
}

// row is what is stored of a.
func (a *appState) row(k inventory.Key) store.ApplicationState {
	return store.ApplicationState{Cluster: k.Cluster, Namespace: k.Namespace, Application: k.Application,
		Health: a.reportedHealth, HealthChangedAt: a.healthChangedAt, Drift: string(a.reportedDrift),
		DriftCheckedAt: a.driftCheckedAt, DriftObjects: a.driftObjects, CorrectionJob: a.correction}
}

// storedDrift is one drifted object as stored in ApplicationState.DriftObjects.
type storedDrift struct {
	Group     string         `json:"group"`
	Kind      string         `json:"kind"`
	Namespace string         `json:"namespace"`
	Name      string         `json:"name"`
	Missing   bool           `json:"missing"`
	Fields    []DriftedField `json:"drifted_fields"`
}

// encodeDrift is the stored form of a drift verdict's objects, ordered so
// equal verdicts encode equally; "" when none.
func encodeDrift(objects map[object.ObjMetadata]objectDrift) string {
	if len(objects) == 0 {
		return ""
	}
	ids := slices.SortedFunc(maps.Keys(objects), func(a, b object.ObjMetadata) int { return strings.Compare(a.String(), b.String()) })
	out := make([]storedDrift, len(ids))
	for i, id := range ids {
		d := objects[id]
		out[i] = storedDrift{Group: id.GroupKind.Group, Kind: id.GroupKind.Kind, Namespace: id.Namespace, Name: id.Name,
			Missing: d.missing, Fields: d.fields}
	}
	b, _ := json.Marshal(out)
	return string(b)
}

func decodeDrift(s string) (map[object.ObjMetadata]objectDrift, error) {
	if s == "" {
		return nil, nil
	}
	var in []storedDrift
	if err := json.Unmarshal([]byte(s), &in); err != nil {
		return nil, fmt.Errorf("drift objects: %w", err)
	}
	out := make(map[object.ObjMetadata]objectDrift, len(in))
	for _, d := range in {
		id := object.ObjMetadata{Namespace: d.Namespace, Name: d.Name, GroupKind: schema.GroupKind{Group: d.Group, Kind: d.Kind}}
		out[id] = objectDrift{missing: d.Missing, fields: d.Fields}
	}
	return out, nil
}
