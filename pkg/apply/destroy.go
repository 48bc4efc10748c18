package apply

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	cliapply "sigs.k8s.io/cli-utils/pkg/apply"
	cliinventory "sigs.k8s.io/cli-utils/pkg/inventory"
	"sigs.k8s.io/cli-utils/pkg/object"
	"sigs.k8s.io/cli-utils/pkg/object/validation"
)

// Destroy deletes every object the application's inventory holds, waits
// until they are gone, then deletes the inventory. Objects that another
// inventory took over meanwhile are left in place (skipped), and so are
// objects marked cli-utils.sigs.k8s.io/on-remove=keep or
// helm.sh/resource-policy=keep, which also leave the inventory (see
// markKept). A missing
// namespace is success with an empty Result: nothing of the application can
// be left. The inventory survives a run where a deletion failed or timed
// out, so a later Destroy can finish the job.
func (e *Engine) Destroy(ctx context.Context, req Request) (*Result, error) {
	start := time.Now()
	key, err := e.key(req)
	if err != nil {
		return nil, err
	}
	if len(req.Objects) > 0 {
		return nil, fmt.Errorf("destroy application %s/%s: %d objects given, a destroy request lists none", key.Namespace, key.Application, len(req.Objects))
	}
	if err := e.checkNamespace(ctx, key.Namespace); err != nil {
		var nm *NamespaceNotManagedError
		if errors.As(err, &nm) && nm.Missing {
			return &Result{Objects: []ObjectResult{}}, nil
		}
		return nil, err
	}
	listed, found, err := e.inventoryObjects(ctx, key)
	if err != nil {
		return nil, classify(err)
	}
	if found {
		if err := e.markKept(ctx, key, listed, newRedactor(nil)); err != nil {
			return nil, err
		}
	}
	timeout := cmp.Or(req.Timeout, e.opts.DeleteTimeout)
	runCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	rec := &recorder{
		subject:       "application " + key.Namespace + "/" + key.Application,
		objects:       map[object.ObjMetadata]*ObjectResult{},
		notify:        e.opts.OnEvent,
		progress:      req.Progress,
		stop:          stop,
		waitTimeout:   timeout,
		deleteTimeout: timeout,
	}
	events := e.destroyer.Run(runCtx, inventoryInfo(key), cliapply.DestroyerOptions{
		InventoryPolicy:         cliinventory.PolicyMustMatch,
		DeleteTimeout:           timeout, // zero would mean "wait forever"
		DeletePropagationPolicy: metav1.DeletePropagationBackground,
		EmitStatusEvents:        true,
		ValidationPolicy:        validation.ExitEarly,
	})
	for ev := range events { // drained to the end, as in Apply
		rec.handle(ev)
	}
	res, err := rec.finish(ctx, runCtx)
	e.opts.Logger.Debug("destroy finished", "cluster", key.Cluster, "namespace", key.Namespace, "application", key.Application,
		"objects", len(res.Objects), "duration", time.Since(start), "ok", err == nil)
	return res, err
}
