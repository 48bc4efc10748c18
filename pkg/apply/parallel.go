package apply

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"golang.org/x/sync/errgroup"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/cli-utils/pkg/common"
	cliinventory "sigs.k8s.io/cli-utils/pkg/inventory"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/cli-utils/pkg/object"

	"github.com/vworkspace/pushd/pkg/inventory"
	"github.com/vworkspace/pushd/pkg/workers"
)

// writeOutcome is how far applyParallel took a run.
type writeOutcome int

const (
	// notWritten: a condition of the fast path failed; nothing was
	// written and cli-utils' applier runs the whole run.
	notWritten writeOutcome = iota
	// writtenDone: the run is over (every object Current, or it failed).
	writtenDone
	// writtenWait: every object was applied, some are not Current yet;
	// the run waits for them (Engine.wait) and reports.
	writtenWait
)

// applyParallel writes a run's objects with one server-side apply each, at
// PreflightConcurrency in flight, instead of cli-utils' apply task, which
// reads and patches one object at a time: with the client rate limit
// lifted, that serial loop was most of a 300-object job (README,
// Performance). cli-utils still owns what the design needs it for: its
// inventory client records the objects (before any of them is written, as
// its own apply does), its status watcher waits for objects not Current
// yet (Engine.wait), and any run that must prune goes through its applier
// and pruner. An object whose dry-run returned the live object unchanged
// is not written at all (alreadyApplied).
//
// It only writes when cli-utils' applier would write the same: nothing to
// prune (the inventory lists no object the request lacks), and no object
// that exists belongs to another inventory or to none (cli-utils'
// CanApply with PolicyMustMatch on the live objects). The preflight has
// passed by then, the objects carry the cluster-id stamp (prepare), and a
// cancelled ctx stops it from starting further writes.
//
// With writtenWait, the Result holds the objects in the order of targets.
func (e *Engine) applyParallel(ctx context.Context, key inventory.Key, obs *observed, targets []target, dryRuns map[object.ObjMetadata]*unstructured.Unstructured,
	red redactor, progress func([]ObjectResult)) (*Result, error, writeOutcome) {
	ids := make(object.ObjMetadataSet, len(targets))
	for i, t := range targets {
		ids[i] = t.id
	}
	if len(obs.inventory.Diff(ids)) > 0 {
		return nil, nil, notWritten // pruning is cli-utils'
	}
	info := inventoryInfo(key)
	for _, t := range targets {
		if live := obs.live[t.id]; live != nil {
			if ok, _ := cliinventory.CanApply(info, live, cliinventory.PolicyMustMatch); !ok {
				return nil, nil, notWritten // cli-utils refuses it and reports why
			}
		} else if dryRuns[t.id].GetResourceVersion() != "" {
			return nil, nil, notWritten // exists, but the LISTs missed it
		}
	}
	subject := "application " + key.Namespace + "/" + key.Application
	res := &Result{Objects: make([]ObjectResult, len(targets))}
	for i, t := range targets {
		res.Objects[i] = ObjectResult{ObjectRef: t.ref, Action: ActionSkipped, Status: string(status.UnknownStatus),
			Message: "not applied: the run stopped before reaching it"}
	}
	if !obs.hasInventory || len(ids.Diff(obs.inventory)) > 0 {
		if _, err := e.inv.Merge(info, ids, common.DryRunNone); err != nil {
			sortResults(res.Objects)
			return res, fmt.Errorf("%s: record objects in inventory: %w", subject, red.error(classify(err))), writtenDone
		}
	}

	errs := make([]error, len(targets))
	current := make([]bool, len(targets))
	written := &writeProgress{objects: res.Objects, done: make([]bool, len(targets)), hook: progress}
	g, gctx := errgroup.WithContext(ctx)
	var relay workers.Relay
	g.SetLimit(e.opts.PreflightConcurrency)
	for i, t := range targets {
		if gctx.Err() != nil {
			break
		}
		if r, c, ok := e.alreadyApplied(t, obs.live[t.id], dryRuns[t.id], red); ok {
			current[i] = c
			written.set(i, r)
			continue
		}
		g.Go(func() error {
			relay.Run(func() {
				r, c, err := e.write(gctx, t, dryRuns[t.id].GetResourceVersion(), red)
				current[i], errs[i] = c, err
				written.set(i, r)
			})
			return nil
		})
	}
	g.Wait()
	relay.Rethrow() // a writer's panic is the job's (workers.Guard)
	// res.Objects stays in target order for the wait; the Result is sorted.
	out := &Result{Objects: slices.Clone(res.Objects)}
	sortResults(out.Objects)

	var failed []error
	for _, err := range errs {
		if err != nil {
			failed = append(failed, err)
		}
	}
	if ctx.Err() != nil {
		failed = append([]error{fmt.Errorf("%s: %w", subject, context.Cause(ctx))}, failed...)
	}
	for _, o := range out.Objects {
		e.opts.OnEvent(o)
	}
	switch {
	case len(failed) == 1:
		return out, failed[0], writtenDone
	case len(failed) > 1:
		return out, errors.Join(failed...), writtenDone
	}
	for _, c := range current {
		if !c {
			return res, nil, writtenWait
		}
	}
	return out, nil, writtenDone
}

// alreadyApplied answers for an object whose dry-run returned the live
// object unchanged: the apply would be a no-op, so it is not sent (ok
// true), and its kstatus is read from the live object. An unchanged
// re-submit with one object still rolling out thus writes nothing.
func (e *Engine) alreadyApplied(t target, live, dryRun *unstructured.Unstructured, red redactor) (ObjectResult, bool, bool) {
	if live == nil || !sameObject(dryRun, live) {
		return ObjectResult{}, false, false
	}
	r := ObjectResult{ObjectRef: t.ref, Action: ActionUnchanged, Status: string(status.UnknownStatus)}
	st, err := e.status(live)
	if err != nil {
		r.Message = red.string(err.Error())
		return r, false, true
	}
	r.Status, r.Message = string(st.Status), red.string(st.Message)
	return r, st.Status == status.CurrentStatus, true
}

// writeProgress holds the results of parallel writes as they land and feeds
// the Request's Progress hook. Its lock also keeps the hook's calls from
// overlapping, as the contract promises.
type writeProgress struct {
	mu      sync.Mutex
	objects []ObjectResult // one slot per target
	done    []bool         // which slots hold a write's result
	hook    func([]ObjectResult)
}

func (w *writeProgress) set(i int, r ObjectResult) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.objects[i], w.done[i] = r, true
	if w.hook == nil {
		return
	}
	snap := make([]ObjectResult, 0, len(w.objects))
	for j, o := range w.objects {
		if w.done[j] {
			snap = append(snap, o)
		}
	}
	sortResults(snap)
	w.hook(snap)
}

// write server-side applies one object as cli-utils would (same field
// manager, forced conflicts) and reads its kstatus from the answer.
// before is its resourceVersion as the preflight saw it.
func (e *Engine) write(ctx context.Context, t target, before string, red redactor) (ObjectResult, bool, error) {
	r := ObjectResult{ObjectRef: t.ref, Status: string(status.UnknownStatus)}
	data, err := t.obj.MarshalJSON()
	if err == nil {
		force := true
		var got *unstructured.Unstructured
		got, err = e.c.Dynamic.Resource(t.mapping.Resource).Namespace(t.obj.GetNamespace()).Patch(ctx, t.obj.GetName(), types.ApplyPatchType, data,
			metav1.PatchOptions{Force: &force, FieldManager: FieldManager})
		if err == nil {
			switch {
			case before == "":
				r.Action = ActionCreated
			case got.GetResourceVersion() == before:
				r.Action = ActionUnchanged
			default:
				r.Action = ActionConfigured
			}
			st, err := e.status(got)
			if err != nil {
				r.Message = red.string(err.Error())
				return r, false, nil
			}
			r.Status, r.Message = string(st.Status), red.string(st.Message)
			return r, st.Status == status.CurrentStatus, nil
		}
	}
	err = red.error(classify(err))
	r.Action, r.Message = ActionFailed, err.Error()
	return r, false, &ObjectError{Object: t.ref, Verb: "apply", Err: err}
}
