package apply

import (
	"context"
	"fmt"

	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/cli-utils/pkg/object"

	"github.com/vworkspace/pushd/pkg/inventory"
)

// resume is the run of an operation an earlier attempt already wrote (the
// inventory lists its objects): it writes nothing and waits on the listed
// objects as Apply would have, with req.Judge. resumed is false when
// there is nothing to resume (no inventory, or an empty one): Apply then
// runs as usual.
//
// An object the inventory lists that no longer exists fails the run: it
// was created once, and an operation's object is never created twice
// (pushd cannot tell a deletion from a crash between recording the
// inventory and the first write, and re-running a backup is not its call).
func (e *Engine) resume(ctx context.Context, key inventory.Key, req Request) (res *Result, err error, resumed bool) {
	listed, found, err := e.inventoryObjects(ctx, key)
	if err != nil {
		return nil, classify(err), true
	}
	if !found || len(listed) == 0 {
		return nil, nil, false
	}
	live, err := inventory.LiveObjects(ctx, e.c, listed)
	if err != nil {
		return nil, classify(err), true
	}
	if req.Judge != nil {
		defer e.judges.add(listed, req.Judge)()
	}
	runCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	rec := e.newRecorder(key, req, len(listed), newRedactor(req.Objects), stop)
	var pending object.ObjMetadataSet
	for _, id := range listed {
		u := live[id]
		o := ObjectResult{ObjectRef: refFromID(id, ""), Action: ActionUnchanged, Status: string(status.UnknownStatus),
			Message: "written by an earlier attempt; not written again"}
		if u == nil {
			o.Action, o.Status, o.Message = ActionFailed, string(status.NotFoundStatus), "gone: an operation's object is never created a second time"
			rec.objects[id] = &o
			rec.failed = append(rec.failed, id)
			continue
		}
		o.Version = u.GroupVersionKind().Version
		rec.objects[id] = &o
		pending = append(pending, id)
	}
	if len(rec.failed) == 0 {
		e.wait(runCtx, rec, pending, rec.waitTimeout)
	}
	res, err = rec.finish(ctx, runCtx)
	if err != nil {
		err = fmt.Errorf("resume operation %s: %w", key.Operation, err)
	}
	return res, err, true
}
