package observe

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/cli-utils/pkg/object"

	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/inventory"
	"github.com/vworkspace/pushd/pkg/store"
)

// Poll reads the cluster's inventories and the status of their objects now,
// keeps them as the cluster's latest snapshot and records an
// application.health_changed event for each application whose aggregate
// health changed. Cost: one LIST of inventories per allowed namespace and
// one LIST per (kind, namespace) of the objects, label-selected.
//
// When the cluster cannot be read, its applications become unknown, no
// event is recorded (cluster.connectivity_changed tells that story) and the
// error wraps ErrUnreachable.
func (w *Watcher) Poll(ctx context.Context, cluster string) error {
	rec, err := w.clusters.Get(ctx, "", cluster)
	if err != nil {
		return err
	}
	st := w.state(ctx, cluster)
	return w.read(ctx, rec, st, w.opts.PollTimeout)
}

// read reads the cluster's inventories and their objects' status within
// timeout and records them in st (see record).
func (w *Watcher) read(ctx context.Context, rec *clusters.Record, st *clusterState, timeout time.Duration) error {
	c, err := w.reach(rec.ID)
	if err != nil {
		st.markUnknown()
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	invs, failed, err := listInventories(ctx, c, rec.AllowedNamespaces)
	if err != nil {
		st.markUnknown()
		return err
	}
	var ids []object.ObjMetadata
	for _, inv := range invs {
		ids = append(ids, inv.IDs...)
	}
	live, err := inventory.LiveObjects(ctx, c, ids)
	if err != nil {
		st.markUnknown()
		return fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	return w.record(ctx, rec, st, invs, failed, live, nil, nil)
}

// reach returns the cluster's clients unless its breaker is open or it has
// no credential.
func (w *Watcher) reach(cluster string) (*clusters.Clients, error) {
	if !w.breakers.Allow(cluster) {
		return nil, fmt.Errorf("cluster %q: %w: its circuit breaker is open", cluster, ErrUnreachable)
	}
	c, err := w.clusters.Clients(cluster)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	return c, nil
}

// markUnknown: the cluster could not be read. What was known stays (for the
// next transition to be counted from), but shows as unknown.
func (st *clusterState) markUnknown() {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, a := range st.apps {
		a.unknown = true
	}
}

// record makes a reading of the cluster its latest snapshot: statuses from
// live, drift verdicts from drift (nil after a plain poll); the
// applications of namespaces that could not be read (failed) stay as they
// were, shown unknown. It records the
// events of every transition in one transaction with the application states
// they change. The snapshot only changes once both are stored, so a failed
// write is retried by the next reading instead of being lost.
//
// Recordings of the cluster take turns (st.write); the state lock st.mu is
// held only to copy and install the snapshot, never across a database
// write, so views and polls of the cluster do not wait on the store.
func (w *Watcher) record(ctx context.Context, rec *clusters.Record, st *clusterState, invs []inventory.Inventory, failed map[string]error,
	live map[object.ObjMetadata]*unstructured.Unstructured, drift map[inventory.Key]*appDrift, refs map[object.ObjMetadata]fieldRef) error {
	st.write.Lock()
	defer st.write.Unlock()
	// What this reading writes belongs to rec's generation: dropped if the
	// record is deleted (or re-created) meanwhile.
	ctx = store.WithGeneration(ctx, rec.ID, rec.UID)
	now := w.opts.Now().UTC()
	apps := make(map[inventory.Key]*appState, len(invs))
	var events []*store.Event
	st.mu.Lock()
	snapshot := st.snapshot
	for k, old := range st.apps {
		if _, ok := failed[k.Namespace]; ok {
			a := *old
			a.unknown = true
			apps[k] = &a
		}
	}
	for _, inv := range invs {
		a := &appState{}
		if old, ok := st.apps[inv.Key]; ok {
			*a = *old
		}
		apps[inv.Key] = a
	}
	st.mu.Unlock()

	for _, inv := range invs {
		a := apps[inv.Key]
		a.objects = make([]objectState, len(inv.IDs))
		statuses := make([]string, len(inv.IDs))
		for i, id := range inv.IDs {
			o := objectState{id: id, status: string(status.NotFoundStatus), message: "not found in the cluster"}
			if u, ok := live[id]; ok {
				o.version = u.GroupVersionKind().Version
				o.status, o.message = objectStatus(u, rec, w.groups)
			}
			a.objects[i], statuses[i] = o, o.status
		}
		a.health, a.checkedAt, a.unknown = aggregate(statuses), now, false
		switch {
		case a.reportedHealth == "":
			a.reportedHealth, a.healthChangedAt = a.health, now
		case a.reportedHealth != a.health:
			events = append(events, healthEvent(rec.Organization, rec.ID, inv.Key, a.health, a.reportedHealth, now))
			a.reportedHealth, a.healthChangedAt = a.health, now
		}
		if d, ok := drift[inv.Key]; ok && !snapshot {
			if e := w.driftTransition(ctx, rec, inv.Key, a, d, now); e != nil {
				events = append(events, e)
			}
		}
	}
	if !snapshot {
		if err := w.save(ctx, rec.ID, st, apps, events); err != nil {
			return fmt.Errorf("cluster %q: record application states and events: %w", rec.ID, err)
		}
	}
	st.mu.Lock()
	st.apps = apps // a view's reading of another replica's cluster (snapshot): nothing is recorded
	if refs != nil {
		st.refs = refs
	}
	st.mu.Unlock()
	if len(events) > 0 && !snapshot {
		w.opts.Notify()
	}
	return nil
}
