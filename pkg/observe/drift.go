package observe

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"golang.org/x/sync/errgroup"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/object"

	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/inventory"
	"github.com/vworkspace/pushd/pkg/store"
	"github.com/vworkspace/pushd/pkg/workers"
)

// How drift is detected, and why this way.
//
// The reference is Odoo's latest intent for the application: the newest job
// of the record's generation that passed its preflight (store.LatestIntent)
// — succeeded or not, since a job that timed out or failed on one object
// still wrote the others. An apply's manifests are compared, stamped as
// pkg/apply stamps them (Key.Stamp); nothing older ever is. When the latest
// intent is a delete, or there is none, the application has no desired
// state to drift from: its drift is unknown and it is never corrected.
// Only what pushd set can drift: fields it never set, defaults the API
// server filled in, and fields other managers own that pushd did not set
// (an autoscaler's replicas, an annotation added by hand) are not drift.
//
// The authoritative check is a server-side apply dry-run of that state with
// pushd's field manager and force — exactly what a correction would send —
// compared with the live object on the leaf fields pushd owns in the dry-run
// result (its managedFields entry is the set of fields the apply sets). The
// API server does the merging, defaulting, conversion and list-key matching,
// so nothing is re-implemented here and the answer is the one a re-apply
// would act on. A field that differs is attributed to the manager that owns
// it in the live object's managedFields (another manager that forced or
// updated it took it from pushd); nil when nobody owns it (it was removed).
//
// The dry-run costs one PATCH per object, so managedFields serve as a
// pre-filter: once an object was found in sync, its pushd field set is
// kept, and later checks skip the dry-run while the live object's pushd set
// is still exactly that set and every field in it still exists. Another
// manager cannot change one of pushd's fields without taking it out of that
// set (an update transfers ownership, a forced apply takes it), and a removed
// field no longer resolves. What the pre-filter cannot see — a write under
// pushd's own manager name, or one that rewrote managedFields to keep pushd's
// entry identical — is caught with Options.DryRunAll. The live objects come
// from the same label-selected LISTs as the status poll, so a check of an
// application in sync costs no request per object at all.
//
// Newest intent only: an application with a job in progress (queued or
// running, other than a drift correction) is not checked — the job brings
// a newer intent than the reference, and its writes would read as drift
// from the older one. Its drift is unknown (DriftReasonJobInProgress), no
// event is sent and no correction queued; it is checked again once the job
// ends. The jobs in progress and the latest intents are read again after
// the comparison, so a job that started or ended meanwhile makes that
// verdict unknown too. A correction already queued re-reads the latest
// intent when it is claimed and ends itself, superseded, if a newer one
// replaced its own (pkg/jobs).

// appDrift is a drift check's verdict on one application.
type appDrift struct {
	state   DriftState // DriftInSync, DriftDrifted or DriftUnknown
	objects map[object.ObjMetadata]objectDrift
	// reference is the job whose manifests were compared.
	reference string
	// reason says why the state is unknown (nil when it is not).
	reason *DriftReason
}

// CheckDrift runs the cluster's drift check now and returns when it is done;
// if one is running, it waits for that one first. When the cluster cannot be
// read its applications become unknown, no drift event is recorded, and the
// error wraps ErrUnreachable.
func (w *Watcher) CheckDrift(ctx context.Context, cluster string) error {
	st := w.state(ctx, cluster)
	select {
	case st.drift <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-st.drift }()
	return w.checkDrift(ctx, cluster, st)
}

// tryCheckDrift runs the check unless one of the cluster is running (it
// absorbs the request).
func (w *Watcher) tryCheckDrift(ctx context.Context, cluster string) (ran bool, err error) {
	st := w.state(ctx, cluster)
	select {
	case st.drift <- struct{}{}:
	default:
		return false, nil
	}
	defer func() { <-st.drift }()
	return true, w.checkDrift(ctx, cluster, st)
}

// task is one object to check.
type task struct {
	app  inventory.Key
	job  string
	want *unstructured.Unstructured
	id   object.ObjMetadata
}

// result is one object's verdict.
type result struct {
	drift objectDrift
	ref   *fieldRef // set when the object is in sync: keep for the pre-filter
	err   error
}

func (w *Watcher) checkDrift(ctx context.Context, cluster string, st *clusterState) error {
	rec, err := w.clusters.Get(ctx, "", cluster)
	if err != nil {
		return err
	}
	c, err := w.reach(cluster)
	if err != nil {
		st.markUnknown()
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, w.opts.DriftTimeout)
	defer cancel()
	invs, unreadable, err := listInventories(ctx, c, rec.AllowedNamespaces)
	if err != nil {
		st.markUnknown()
		return err
	}
	active, err := w.jobsInProgress(ctx, rec.UID)
	if err != nil {
		return err
	}
	drift := make(map[inventory.Key]*appDrift, len(invs))
	var tasks []task
	var ids []object.ObjMetadata
	for _, inv := range invs {
		ids = append(ids, inv.IDs...)
		if j, ok := active[appOf(inv.Key)]; ok {
			drift[inv.Key] = &appDrift{state: DriftUnknown, reason: inProgress(j)}
			continue
		}
		want, job, err := w.latestIntent(ctx, rec.UID, inventory.Key{Cluster: cluster, Namespace: inv.Key.Namespace, Application: inv.Key.Application})
		if err != nil {
			return err
		}
		d := &appDrift{state: DriftUnknown, objects: map[object.ObjMetadata]objectDrift{}, reference: job}
		drift[inv.Key] = d
		if want == nil {
			// Nothing pushd applied to compare with: unknown.
			d.reason = &DriftReason{Code: DriftReasonNoIntent, Message: "the application's latest intent is not an apply (none passed its preflight, or it is a delete)"}
			continue
		}
		for _, u := range want {
			id := object.UnstructuredToObjMetadata(u)
			tasks = append(tasks, task{app: inv.Key, job: job, want: u, id: id})
			if !slices.Contains(inv.IDs, id) {
				ids = append(ids, id)
			}
		}
	}
	live, err := inventory.LiveObjects(ctx, c, ids)
	if err != nil {
		st.markUnknown()
		return fmt.Errorf("%w: %w", ErrUnreachable, err)
	}

	st.mu.Lock()
	oldRefs := st.refs
	st.mu.Unlock()
	results := make([]result, len(tasks))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(w.opts.DryRunConcurrency)
	for i, t := range tasks {
		g.Go(func() error {
			ref, ok := oldRefs[t.id]
			workers.Guard(w.opts.Logger, "drift", cluster, func() { results[i] = w.checkObject(gctx, c, t, live[t.id], ref, ok) },
				func(p any) { results[i] = result{err: fmt.Errorf("%s: internal error: %v", t.id, p)} })
			return nil
		})
	}
	g.Wait()
	// A job that started or ended while the objects were compared: the
	// verdict may mix two intents.
	if err := w.stillReference(ctx, rec.UID, drift); err != nil {
		return err
	}

	refs := make(map[object.ObjMetadata]fieldRef, len(tasks))
	failed := map[inventory.Key]error{}
	for i, t := range tasks {
		r := results[i]
		if r.err != nil {
			failed[t.app] = errors.Join(failed[t.app], r.err)
			continue
		}
		if r.ref != nil {
			refs[t.id] = *r.ref
		}
		if r.drift.missing || len(r.drift.fields) > 0 {
			drift[t.app].objects[t.id] = r.drift
		}
	}
	for _, inv := range invs {
		d := drift[inv.Key]
		switch {
		case d.reason != nil:
			d.objects = nil
		case failed[inv.Key] != nil:
			// An object that could not be checked makes the verdict unknown:
			// never a false drifted or in sync.
			d.state, d.objects = DriftUnknown, nil
			d.reason = &DriftReason{Code: DriftReasonIncomplete, Message: "an object could not be checked; pushd's log says why"}
			w.opts.Logger.Warn("drift check incomplete", "cluster", cluster, "namespace", inv.Key.Namespace,
				"application", inv.Key.Application, "err", failed[inv.Key])
		case !hasTasks(tasks, inv.Key):
		case len(d.objects) > 0:
			d.state = DriftDrifted
		default:
			d.state = DriftInSync
		}
	}
	if err := ctx.Err(); err != nil {
		// Cut short (timeout or shutdown): the verdicts are incomplete.
		st.markUnknown()
		return fmt.Errorf("cluster %q: drift check: %w", cluster, err)
	}
	return w.record(ctx, rec, st, invs, unreadable, live, drift, refs)
}

// appKey is an application of a record: (namespace, application).
type appKey struct{ namespace, application string }

func appOf(k inventory.Key) appKey { return appKey{k.Namespace, k.Application} }

// jobsInProgress are the record's applications with a job queued or
// running other than a drift correction, each with its oldest such job.
func (w *Watcher) jobsInProgress(ctx context.Context, uid string) (map[appKey]store.ActiveJob, error) {
	jobs, err := w.store.ActiveJobs(ctx, uid, store.TriggerDrift)
	if err != nil {
		return nil, fmt.Errorf("jobs in progress: %w", err)
	}
	out := make(map[appKey]store.ActiveJob, len(jobs))
	for _, j := range jobs {
		k := appKey{j.Namespace, j.Application}
		if _, ok := out[k]; !ok {
			out[k] = j
		}
	}
	return out, nil
}

func inProgress(j store.ActiveJob) *DriftReason {
	return &DriftReason{Code: DriftReasonJobInProgress, Job: j.ID,
		Message: fmt.Sprintf("job %q of the application is %s: it brings a newer intent; drift is checked against it once it ends", j.ID, j.Status)}
}

// stillReference makes unknown every verdict of drift whose application
// got a job in progress, or another latest intent, since its reference was
// read.
func (w *Watcher) stillReference(ctx context.Context, uid string, drift map[inventory.Key]*appDrift) error {
	active, err := w.jobsInProgress(ctx, uid)
	if err != nil {
		return err
	}
	for k, d := range drift {
		if d.reason != nil {
			continue
		}
		if j, ok := active[appOf(k)]; ok {
			d.state, d.reason = DriftUnknown, inProgress(j)
			continue
		}
		latest, err := w.store.LatestIntent(ctx, uid, k.Namespace, k.Application)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("application %s/%s: latest intent: %w", k.Namespace, k.Application, err)
		}
		if (latest == nil && d.reference != "") || (latest != nil && latest.ID != d.reference) {
			d.state = DriftUnknown
			d.reason = &DriftReason{Code: DriftReasonNotChecked, Message: "a job ended while the drift check ran; the next check measures against it"}
		}
	}
	return nil
}

func hasTasks(tasks []task, app inventory.Key) bool {
	return slices.ContainsFunc(tasks, func(t task) bool { return t.app == app })
}

// latestIntent returns the objects of the application's latest intent as
// pkg/apply wrote them, and the job's id; nil when there is none or it is
// a delete.
func (w *Watcher) latestIntent(ctx context.Context, uid string, key inventory.Key) ([]*unstructured.Unstructured, string, error) {
	job, err := w.store.LatestIntent(ctx, uid, key.Namespace, key.Application)
	if errors.Is(err, store.ErrNotFound) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("cluster %q: application %s/%s: latest intent: %w", key.Cluster, key.Namespace, key.Application, err)
	}
	if job.Action != "apply" {
		return nil, job.ID, nil
	}
	out, err := inventory.DecodeManifests(job.Manifests)
	if err != nil {
		return nil, "", fmt.Errorf("job %q: %w", job.ID, err)
	}
	for _, u := range out {
		key.Stamp(u)
	}
	return out, job.ID, nil
}

// checkObject tells whether one object pushd applied is missing, drifted
// or in sync (see the comment at the top of this file).
func (w *Watcher) checkObject(ctx context.Context, c *clusters.Clients, t task, live *unstructured.Unstructured, ref fieldRef, hasRef bool) result {
	if live == nil || live.GetDeletionTimestamp() != nil {
		return result{drift: objectDrift{missing: true}}
	}
	if !w.opts.DryRunAll && hasRef && ref.job == t.job {
		if own := managedSet(live, inventory.FieldManager); own != nil && own.Equals(ref.set) && resolves(live.Object, ref.set) {
			return result{ref: &ref}
		}
	}
	reset := false
	gvk := t.want.GroupVersionKind()
	m, err := inventory.RESTMapping(c.Mapper, gvk.GroupKind(), gvk.Version, &reset)
	if err != nil {
		return result{err: fmt.Errorf("%s: %w", t.id, err)}
	}
	res := c.Dynamic.Resource(m.Resource).Namespace(t.id.Namespace)
	if live.GroupVersionKind().Version != gvk.Version {
		// Listed in the preferred version; compare in the applied one.
		if live, err = res.Get(ctx, t.id.Name, metav1.GetOptions{}); err != nil {
			return result{err: fmt.Errorf("get %s: %w", t.id, err)}
		}
	}
	want, err := res.Apply(ctx, t.id.Name, t.want, metav1.ApplyOptions{FieldManager: inventory.FieldManager, Force: true, DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		return result{err: fmt.Errorf("dry-run apply %s: %w", t.id, err)}
	}
	applied := managedSet(want, inventory.FieldManager)
	if applied == nil {
		return result{err: fmt.Errorf("dry-run apply %s: no fields of manager %q in the result", t.id, inventory.FieldManager)}
	}
	if fields := driftedFields(want, live, applied); len(fields) > 0 {
		return result{drift: objectDrift{fields: fields}}
	}
	r := result{}
	if own := managedSet(live, inventory.FieldManager); own != nil {
		r.ref = &fieldRef{job: t.job, set: own}
	}
	return r
}

// driftTransition updates a's drift from a check's verdict and returns the
// event the transition calls for (nil when none): drift.detected when an
// application drifts that Odoo knew in sync (or knew nothing of), and
// drift.resolved when one it knew drifted is in sync again. An unknown
// verdict changes nothing. In mode "correct" a drifted application gets a
// correction job — again on later checks while it stays drifted, once the
// previous correction is over.
func (w *Watcher) driftTransition(ctx context.Context, rec *clusters.Record, k inventory.Key, a *appState, d *appDrift, now time.Time) *store.Event {
	a.drift, a.drifted, a.driftReason = d.state, d.objects, d.reason
	if d.state == DriftDrifted || d.state == DriftInSync {
		a.driftCheckedAt, a.driftObjects = now, encodeDrift(d.objects)
	}
	correct := rec.Drift.Mode == clusters.DriftCorrect && w.opts.Corrector != nil
	switch d.state {
	case DriftDrifted:
		if a.reportedDrift == DriftDrifted {
			if correct && w.correctionOver(ctx, rec.Organization, a.correction) {
				a.correction = w.correct(ctx, rec, k, now)
			}
			return nil
		}
		correction := ""
		if correct {
			correction = w.correct(ctx, rec, k, now)
		}
		a.reportedDrift, a.correction = DriftDrifted, correction
		mode := rec.Drift.Mode
		if mode == "" {
			mode = clusters.DriftReport
		}
		return driftDetectedEvent(rec.Organization, rec.ID, k, mode, a.view(k.Namespace, true), correction, d.reference, now)
	case DriftInSync:
		var e *store.Event
		if a.reportedDrift == DriftDrifted {
			e = driftResolvedEvent(rec.Organization, rec.ID, k, a.correction, d.reference, now)
		}
		a.reportedDrift, a.correction = DriftInSync, ""
		return e
	}
	return nil
}

// correct queues a correction; its failure leaves the drift reported only.
func (w *Watcher) correct(ctx context.Context, rec *clusters.Record, k inventory.Key, now time.Time) string {
	cluster := rec.ID
	id, err := w.opts.Corrector.Correct(ctx, cluster, k.Namespace, k.Application)
	outcome := store.AuditOK
	if err != nil {
		w.opts.Logger.Warn("drift correction not queued", "cluster", cluster, "namespace", k.Namespace, "application", k.Application, "err", err)
		id, outcome = "", "correction_not_queued"
	} else {
		w.opts.Logger.Info("drift correction queued", "cluster", cluster, "namespace", k.Namespace, "application", k.Application, "job", id)
	}
	// Right after the job's own transaction, which pkg/jobs writes: the
	// Corrector interface does not carry who asked.
	err = w.store.AppendAudit(ctx, &store.AuditEntry{At: now, Organization: rec.Organization, ActorKind: store.ActorPushd,
		Action: store.AuditDriftCorrection, Cluster: cluster, ClusterUID: rec.UID, Subject: id, Outcome: outcome})
	if err != nil {
		w.opts.Logger.Error("audit entry of a drift correction not written", "cluster", cluster, "err", err)
	}
	return id
}

// correctionOver tells whether another correction may be queued: the last
// one finished (or there was none) and the application still drifted.
func (w *Watcher) correctionOver(ctx context.Context, org, id string) bool {
	if id == "" {
		return true
	}
	j, err := w.store.GetJob(ctx, org, id)
	return errors.Is(err, store.ErrNotFound) || (err == nil && j.Terminal())
}
