package apply

import (
	"cmp"
	"context"
	"errors"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	cliapply "sigs.k8s.io/cli-utils/pkg/apply"
	"sigs.k8s.io/cli-utils/pkg/common"
	cliinventory "sigs.k8s.io/cli-utils/pkg/inventory"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/cli-utils/pkg/kstatus/watcher"
	"sigs.k8s.io/cli-utils/pkg/object"
	"sigs.k8s.io/cli-utils/pkg/object/validation"

	"github.com/vworkspace/pushd/pkg/inventory"
)

// Apply makes the application's objects in the cluster match req.Objects:
// it checks the namespace is managed, prepares the objects (namespace,
// cluster-id label), dry-runs every one of them (preflight), ends there when
// nothing would change (see unchanged), else server-side applies them (in
// parallel when nothing is to be pruned, see applyParallel, which skips
// objects the dry-run found unchanged), prunes what the inventory holds and
// the request no longer lists, and waits until every applied object is
// Current, one is Failed, or the timeout passes.
//
// Field conflicts are forced: the manifests are the desired state Odoo
// declared, and a field pushd set that someone changed by hand is exactly
// what a job (or drift correction) must put back. Fields pushd does not set
// stay with their managers. Objects that exist but belong to another
// inventory, or to none, are never taken over (cli-utils PolicyMustMatch):
// they come back skipped with an *OwnershipError.
//
// Objects the inventory holds and the request no longer lists are pruned,
// except those marked cli-utils.sigs.k8s.io/on-remove=keep or
// helm.sh/resource-policy=keep: those are left in place, removed from the
// inventory, and reported skipped (see markKept).
//
// The Result lists every object touched or refused. It is nil when the run
// stopped before the preflight (refused request, namespace not managed,
// cluster unreachable) or could not read what it would prune; after a
// failed preflight it lists the refused objects as failed and nothing was
// written. Errors are *RefusedError, *NamespaceNotManagedError,
// *PreflightError, *ObjectError, *OwnershipError, *ObjectFailedError,
// *TimeoutError (joined when several), or wrap ErrUnreachable,
// ErrUnauthorized or ErrForbidden.
func (e *Engine) Apply(ctx context.Context, req Request) (*Result, error) {
	start := time.Now()
	key, err := e.key(req)
	if err != nil {
		return nil, err
	}
	if err := e.checkNamespace(ctx, key.Namespace); err != nil {
		return nil, err
	}
	if req.Resume {
		if res, err, resumed := e.resume(ctx, key, req); resumed {
			return res, err
		}
	}
	targets, err := e.prepare(key, req.Objects)
	if err != nil {
		return nil, err
	}
	if req.Judge != nil {
		ids := make([]object.ObjMetadata, len(targets))
		for i, t := range targets {
			ids[i] = t.id
		}
		defer e.judges.add(ids, req.Judge)()
	}
	red := newRedactor(req.Objects)
	dryRuns, err := e.preflight(ctx, targets, red)
	if err != nil {
		return preflightResult(targets, err), err
	}
	// The fast paths; when they cannot decide, cli-utils' applier does.
	obs, obsErr := e.observe(ctx, key, targets, dryRuns)
	if obsErr == nil {
		if res, ok := e.unchanged(ctx, obs, targets, dryRuns, req.Progress); ok {
			e.opts.Logger.Debug("apply finished: nothing would change, nothing written", "cluster", key.Cluster, "namespace", key.Namespace,
				"application", key.Application, "objects", len(res.Objects), "duration", time.Since(start))
			return res, nil
		}
		switch res, err, out := e.applyParallel(ctx, key, obs, targets, dryRuns, red, req.Progress); out {
		case writtenDone:
			e.opts.Logger.Debug("apply finished: written in parallel", "cluster", key.Cluster, "namespace", key.Namespace,
				"application", key.Application, "objects", len(res.Objects), "duration", time.Since(start), "ok", err == nil)
			return res, err
		case writtenWait:
			res, err := e.waitWritten(ctx, key, req, targets, res, red)
			e.opts.Logger.Debug("apply finished: written in parallel, then waited", "cluster", key.Cluster, "namespace", key.Namespace,
				"application", key.Application, "objects", len(res.Objects), "duration", time.Since(start), "ok", err == nil)
			return res, err
		}
	}
	if err := e.markPrunedKept(ctx, key, obs, targets, red); err != nil {
		return nil, err
	}
	before := make(map[object.ObjMetadata]string, len(dryRuns))
	for id, u := range dryRuns {
		before[id] = u.GetResourceVersion()
	}

	runCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	rec := e.newRecorder(key, req, len(targets), red, stop)
	rec.before = before
	objs := make(object.UnstructuredSet, len(targets))
	for i, t := range targets {
		objs[i] = t.obj
		rec.entry(t.id, t.ref.Version)
	}
	events := e.applier.Run(runCtx, inventoryInfo(key), objs, cliapply.ApplierOptions{
		ServerSideOptions: common.ServerSideOptions{ServerSideApply: true, ForceConflicts: true, FieldManager: FieldManager},
		// Zero would mean "wait forever" for both.
		ReconcileTimeout:         rec.waitTimeout,
		PruneTimeout:             e.opts.DeleteTimeout,
		PrunePropagationPolicy:   metav1.DeletePropagationBackground,
		EmitStatusEvents:         true,
		InventoryPolicy:          cliinventory.PolicyMustMatch,
		ValidationPolicy:         validation.ExitEarly,
		WatcherRESTScopeStrategy: watcher.RESTScopeNamespace,
	})
	// Drain to the end: the channel is unbuffered, and cli-utils' goroutine
	// (and its informers) only finish once every event was read.
	for ev := range events {
		rec.handle(ev)
	}
	res, err := rec.finish(ctx, runCtx)
	e.opts.Logger.Debug("apply finished", "cluster", key.Cluster, "namespace", key.Namespace, "application", key.Application,
		"objects", len(res.Objects), "duration", time.Since(start), "ok", err == nil)
	return res, err
}

// markPrunedKept marks what the run will prune as markKept does. obs is
// nil when the fast paths could not read the cluster; the inventory is
// then read again.
func (e *Engine) markPrunedKept(ctx context.Context, key inventory.Key, obs *observed, targets []target, red redactor) error {
	var listed object.ObjMetadataSet
	if obs != nil {
		listed = obs.inventory
	} else {
		var err error
		if listed, _, err = e.inventoryObjects(ctx, key); err != nil {
			return classify(err)
		}
	}
	ids := make(object.ObjMetadataSet, len(targets))
	for i, t := range targets {
		ids[i] = t.id
	}
	return e.markKept(ctx, key, listed.Diff(ids), red)
}

// waitWritten ends a run applyParallel wrote and left some objects not
// Current: it waits for those (Engine.wait) and reports as cli-utils' run
// would. written holds the objects' results in the order of targets.
func (e *Engine) waitWritten(ctx context.Context, key inventory.Key, req Request, targets []target, written *Result, red redactor) (*Result, error) {
	runCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	rec := e.newRecorder(key, req, len(targets), red, stop)
	var pending object.ObjMetadataSet
	for i, t := range targets {
		o := written.Objects[i]
		rec.objects[t.id] = &o
		if o.Status != string(status.CurrentStatus) {
			pending = append(pending, t.id)
		}
	}
	e.wait(runCtx, rec, pending, rec.waitTimeout)
	return rec.finish(ctx, runCtx)
}

// preflightResult lists the objects a failed preflight refused as failed,
// and the others as skipped: nothing was written.
func preflightResult(targets []target, err error) *Result {
	var pe *PreflightError
	if !errors.As(err, &pe) {
		return nil
	}
	refused := make(map[ObjectRef]string, len(pe.Objects))
	for _, o := range pe.Objects {
		refused[o.Object] = o.Err.Error()
	}
	res := &Result{Objects: make([]ObjectResult, len(targets))}
	for i, t := range targets {
		r := ObjectResult{ObjectRef: t.ref, Action: ActionSkipped, Status: string(status.UnknownStatus),
			Message: "not applied: the preflight refused other objects"}
		if msg, ok := refused[t.ref]; ok {
			r.Action, r.Message = ActionFailed, "dry-run apply: "+msg
		}
		res.Objects[i] = r
	}
	sortResults(res.Objects)
	return res
}

// newRecorder is the recorder of one run of the application key: its
// events' results, the request's progress hook, stop to end the run.
func (e *Engine) newRecorder(key inventory.Key, req Request, n int, red redactor, stop context.CancelCauseFunc) *recorder {
	return &recorder{
		subject:       "application " + key.Namespace + "/" + key.Application,
		objects:       make(map[object.ObjMetadata]*ObjectResult, n),
		red:           red,
		notify:        e.opts.OnEvent,
		progress:      req.Progress,
		stop:          stop,
		waitTimeout:   cmp.Or(req.Timeout, e.opts.Timeout),
		deleteTimeout: e.opts.DeleteTimeout,
	}
}
