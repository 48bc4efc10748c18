package apply

import (
	"context"
	"errors"
	"time"

	"sigs.k8s.io/cli-utils/pkg/apply/event"
	pollevent "sigs.k8s.io/cli-utils/pkg/kstatus/polling/event"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/cli-utils/pkg/kstatus/watcher"
	"sigs.k8s.io/cli-utils/pkg/object"
)

// wait watches ids with the engine's status watcher (the one cli-utils'
// wait task uses) until every one is Current, one is Failed (the recorder
// then stops the run), ctx ends or timeout passes; objects still pending
// then are the run's timeouts. Status changes go to rec, as cli-utils'
// status events would.
//
// It is the wait of a run applyParallel wrote: re-running cli-utils' applier
// only to wait would send every object a second time (a GET and a PATCH
// each, no-ops for the cluster but not for its API server).
func (e *Engine) wait(ctx context.Context, rec *recorder, ids object.ObjMetadataSet, timeout time.Duration) {
	pending := make(map[object.ObjMetadata]bool, len(ids))
	for _, id := range ids {
		pending[id] = true
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	events := e.watcher.Watch(wctx, ids, watcher.Options{RESTScopeStrategy: watcher.RESTScopeNamespace})
	// Drained to the end: the watcher closes the channel once wctx is done.
	for ev := range events {
		switch ev.Type {
		case pollevent.ResourceUpdateEvent: // an object's status, first as listed, then as it changes
			rs := ev.Resource
			if !pending[rs.Identifier] {
				continue
			}
			rec.status(event.StatusEvent{Identifier: rs.Identifier, PollResourceInfo: rs, Resource: rs.Resource})
			switch rs.Status {
			case status.CurrentStatus:
				delete(pending, rs.Identifier)
			case status.FailedStatus:
				delete(pending, rs.Identifier)
				rec.wait(event.WaitEvent{Identifier: rs.Identifier, Status: event.ReconcileFailed})
			}
			if len(pending) == 0 {
				cancel()
			}
		case pollevent.ErrorEvent: // the watcher gave up (e.g. a Forbidden list)
			if wctx.Err() == nil {
				rec.runErr = ev.Error
			}
		case pollevent.SyncEvent: // its caches are primed: nothing to do
		}
	}
	if ctx.Err() != nil {
		// Failed fast (finish reports the failure) or cancelled by the
		// caller, which the run must report: not a timeout either way.
		if cause := context.Cause(ctx); !errors.Is(cause, errFailFast) && rec.runErr == nil {
			rec.runErr = cause
		}
		return
	}
	if rec.runErr != nil {
		return
	}
	for _, id := range ids {
		if pending[id] {
			rec.wait(event.WaitEvent{Identifier: id, Status: event.ReconcileTimeout})
		}
	}
}
