package observe

import (
	"context"
	"errors"
	"time"

	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/cli-utils/pkg/object"

	"github.com/vworkspace/pushd/pkg/inventory"
	"github.com/vworkspace/pushd/pkg/store"
)

// Applications lists the cluster's application inventories, ordered by
// namespace then application. The list comes from the cluster (a
// label-selected LIST of inventory ConfigMaps per allowed namespace; the
// cluster is the source of truth), joined with the latest poll and drift
// check and with each application's newest job in the store. When the
// cluster cannot be read, the applications last seen are listed as unknown.
// An unknown cluster id is clusters.ErrNotFound.
func (w *Watcher) Applications(ctx context.Context, cluster string) ([]Application, error) {
	l, err := w.ApplicationList(ctx, cluster)
	if err != nil {
		return nil, err
	}
	return l.Items, nil
}

// ApplicationList is Applications with the namespaces that could not be
// read: their applications last seen are listed as unknown, the others'
// as usual.
func (w *Watcher) ApplicationList(ctx context.Context, cluster string) (*ApplicationList, error) {
	views, unreadable, err := w.views(ctx, cluster)
	if err != nil {
		return nil, err
	}
	out := &ApplicationList{Items: make([]Application, len(views)), UnreadableNamespaces: unreadable}
	for i, v := range views {
		out.Items[i] = Application{Namespace: v.Namespace, Application: v.Application, Health: v.Health, Drift: v.Drift,
			DriftReason: v.DriftReason, Objects: len(v.Objects), LastJob: v.LastJob, ReferenceJob: v.ReferenceJob, CheckedAt: v.CheckedAt}
	}
	return out, nil
}

// Application returns one inventory with its objects, or ErrNotFound.
func (w *Watcher) Application(ctx context.Context, cluster, namespace, application string) (*ApplicationDetail, error) {
	views, _, err := w.views(ctx, cluster)
	if err != nil {
		return nil, err
	}
	for i := range views {
		if views[i].Namespace == namespace && views[i].Application == application {
			return &views[i], nil
		}
	}
	return nil, ErrNotFound
}

func (w *Watcher) views(ctx context.Context, cluster string) ([]ApplicationDetail, []NamespaceError, error) {
	rec, err := w.clusters.Get(ctx, "", cluster)
	if err != nil {
		return nil, nil, err
	}
	st := w.viewState(ctx, rec)
	var (
		invs    []inventory.Inventory
		failed  map[string]error
		reached = false
	)
	if c, err := w.reach(cluster); err == nil {
		lctx, cancel := context.WithTimeout(ctx, w.opts.ViewTimeout)
		invs, failed, err = listInventories(lctx, c, rec.AllowedNamespaces)
		cancel()
		reached = err == nil
	}
	st.mu.Lock()
	// Unreachable, or a namespace that could not be read: what was seen
	// last there, shown as unknown.
	lastSeen := map[inventory.Key]bool{}
	for k, a := range st.apps {
		if _, ok := failed[k.Namespace]; reached && !ok {
			continue
		}
		v := inventory.Inventory{Key: k}
		for _, o := range a.objects {
			v.IDs = append(v.IDs, o.id)
		}
		invs = append(invs, v)
		lastSeen[k] = true
	}
	inventory.Sort(invs)
	out := make([]ApplicationDetail, len(invs))
	for i, inv := range invs {
		d := ApplicationDetail{Namespace: inv.Key.Namespace, Application: inv.Key.Application,
			Health: string(status.UnknownStatus), Drift: DriftUnknown, Objects: []Object{}}
		a, seen := st.apps[inv.Key]
		if seen {
			d.Objects = a.view(inv.Key.Namespace, false)
			if !a.unknown && reached {
				d.Health = a.health
				if a.drift == DriftInSync || a.drift == DriftDrifted {
					d.Drift = a.drift
				}
			}
			d.CheckedAt = a.checked()
		}
		if !seen || !sameIDs(a, inv.IDs) {
			// Not polled yet, or the inventory changed since: its objects
			// as the cluster lists them, status unknown until the next poll.
			d.Objects = make([]Object, len(inv.IDs))
			for j, id := range inv.IDs {
				d.Objects[j] = unknownObject(id)
			}
			d.Health, d.Drift = string(status.UnknownStatus), DriftUnknown
		}
		unreachable := !reached || lastSeen[inv.Key] || (seen && a.unknown)
		if unreachable {
			d.Health, d.Drift = string(status.UnknownStatus), DriftUnknown
			for j := range d.Objects {
				d.Objects[j].Status, d.Objects[j].Message = string(status.UnknownStatus), "the cluster could not be reached"
			}
		}
		if d.Drift == DriftUnknown {
			d.DriftReason = unknownDrift(a, unreachable, seen && sameIDs(a, inv.IDs))
		}
		out[i] = d
	}
	st.mu.Unlock()
	for i := range out {
		if out[i].LastJob, err = w.lastJob(ctx, w.store.LatestJob, rec.UID, out[i].Namespace, out[i].Application); err != nil {
			return nil, nil, err
		}
		if out[i].ReferenceJob, err = w.lastJob(ctx, w.store.LatestIntent, rec.UID, out[i].Namespace, out[i].Application); err != nil {
			return nil, nil, err
		}
	}
	return out, namespaceErrors(rec.AllowedNamespaces, failed), nil
}

// unknownDrift says why an application's drift is unknown: the cluster
// could not be read, the last check said why, or no check ran since the
// inventory was first seen or changed.
func unknownDrift(a *appState, unreachable, current bool) *DriftReason {
	switch {
	case unreachable:
		return &DriftReason{Code: DriftReasonUnreachable, Message: "the cluster, or the application's namespace, could not be read"}
	case current && a.driftReason != nil:
		r := *a.driftReason
		return &r
	}
	return &DriftReason{Code: DriftReasonNotChecked, Message: "no drift check has run since the application's inventory was first seen or changed"}
}

// lastJob summarises the job newest finds of the application in the
// record's generation uid; nil when there is none.
func (w *Watcher) lastJob(ctx context.Context, newest func(ctx context.Context, uid, namespace, application string) (*store.Job, error),
	uid, namespace, application string) (*LastJob, error) {
	j, err := newest(ctx, uid, namespace, application)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	lj := &LastJob{ID: j.ID, Action: j.Action, Status: j.Status, Trigger: j.Trigger}
	if j.FinishedAt != nil {
		t := j.FinishedAt.UTC()
		lj.FinishedAt = &t
	}
	if j.Status == store.JobFailed && j.ErrorCode != "" {
		lj.Error = &LastJobError{Code: j.ErrorCode, Message: j.ErrorMessage}
	}
	return lj, nil
}

// view renders the application's objects (only the drifted ones when
// driftedOnly), with the last drift check's findings.
func (a *appState) view(namespace string, driftedOnly bool) []Object {
	out := []Object{}
	for _, o := range a.objects {
		d, drifted := a.drifted[o.id]
		if driftedOnly && !drifted {
			continue
		}
		out = append(out, objectView(o, d, drifted))
	}
	if driftedOnly {
		// Objects of the applied state missing from the inventory too.
		for id, d := range a.drifted {
			if !a.has(id) {
				out = append(out, objectView(objectState{id: id, status: string(status.NotFoundStatus), message: "not found in the cluster"}, d, true))
			}
		}
	}
	return out
}

func objectView(o objectState, d objectDrift, drifted bool) Object {
	v := Object{Group: o.id.GroupKind.Group, Version: o.version, Kind: o.id.GroupKind.Kind, Namespace: o.id.Namespace,
		Name: o.id.Name, Status: o.status, Message: o.message, Drifted: drifted, Missing: d.missing, DriftedFields: []DriftedField{}}
	if d.fields != nil {
		v.DriftedFields = d.fields
	}
	return v
}

func unknownObject(id object.ObjMetadata) Object {
	return Object{Group: id.GroupKind.Group, Kind: id.GroupKind.Kind, Namespace: id.Namespace, Name: id.Name,
		Status: string(status.UnknownStatus), Message: "not polled yet", DriftedFields: []DriftedField{}}
}

func (a *appState) has(id object.ObjMetadata) bool {
	for _, o := range a.objects {
		if o.id == id {
			return true
		}
	}
	return false
}

func sameIDs(a *appState, ids []object.ObjMetadata) bool {
	if len(a.objects) != len(ids) {
		return false
	}
	for i, o := range a.objects {
		if o.id != ids[i] {
			return false
		}
	}
	return true
}

// checkedAt is a's last reading, nil when never.
func (a *appState) checked() *time.Time {
	if a.checkedAt.IsZero() {
		return nil
	}
	t := a.checkedAt
	return &t
}

// Counts are the cluster's application inventories and those drifted, as
// of the latest poll and drift check, without asking the cluster: for
// listings of many clusters (GET /api/v1/clusters). Zero for a cluster not
// read yet.
func (w *Watcher) Counts(cluster string) (total, drifted int) {
	w.mu.Lock()
	st, ok := w.states[cluster]
	w.mu.Unlock()
	if !ok {
		return 0, 0
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, a := range st.apps {
		if a.checkedAt.IsZero() {
			continue // known from the stored states only, not read yet
		}
		total++
		if a.drift == DriftDrifted && !a.unknown {
			drifted++
		}
	}
	return total, drifted
}

// FailedCount is how many of the cluster's applications were Failed at the
// latest poll, without asking the cluster (the UI's fleet summary).
func (w *Watcher) FailedCount(cluster string) int {
	w.mu.Lock()
	st, ok := w.states[cluster]
	w.mu.Unlock()
	if !ok {
		return 0
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	n := 0
	for _, a := range st.apps {
		if !a.checkedAt.IsZero() && !a.unknown && a.health == string(status.FailedStatus) {
			n++
		}
	}
	return n
}
