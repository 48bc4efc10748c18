package apply

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	cliinventory "sigs.k8s.io/cli-utils/pkg/inventory"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/cli-utils/pkg/object"

	"github.com/vworkspace/pushd/pkg/inventory"
)

// unchanged ends a run right after its preflight when the run could only
// confirm what the cluster already holds: every dry-run returned the live
// object as it is (the server-side apply would be a no-op), the inventory
// lists exactly the request's objects (nothing to add, nothing to prune),
// and kstatus already calls every live object Current (nothing to wait
// for). That costs one LIST for the inventory and one per kind on top of
// the preflight, where cli-utils would GET and PATCH every object one at a
// time and then start informers to wait.
//
// Any doubt — an object to create, a difference, an inventory that lists
// more or fewer, an object not yet Current, a failed LIST — answers false
// and the run takes the full path, which decides and reports as before.
// Ownership needs no check of its own: the dry-run sends the owning-
// inventory annotation, so an object another inventory (or none) owns
// differs from its dry-run and goes the full path, where PolicyMustMatch
// refuses it.
func (e *Engine) unchanged(ctx context.Context, key inventory.Key, targets []target, dryRuns map[object.ObjMetadata]*unstructured.Unstructured) (*Result, bool) {
	ids := make(object.ObjMetadataSet, len(targets))
	for i, t := range targets {
		if dryRuns[t.id].GetResourceVersion() == "" {
			return nil, false // would be created
		}
		ids[i] = t.id
	}
	held, err := e.inventoryObjects(ctx, key)
	if err != nil || !held.Equal(ids) {
		return nil, false
	}
	live, err := inventory.LiveObjects(ctx, e.c, ids)
	if err != nil {
		return nil, false
	}
	res := &Result{Objects: make([]ObjectResult, len(targets))}
	for i, t := range targets {
		l := live[t.id]
		if l == nil || !sameObject(dryRuns[t.id], l) {
			return nil, false
		}
		st, err := e.status(l)
		if err != nil || st.Status != status.CurrentStatus {
			return nil, false
		}
		res.Objects[i] = ObjectResult{ObjectRef: t.ref, Action: ActionUnchanged, Status: string(st.Status), Message: st.Message}
	}
	if ctx.Err() != nil {
		return nil, false // the full path reports the cancel
	}
	sortResults(res.Objects)
	for _, o := range res.Objects {
		e.opts.OnEvent(o)
	}
	return res, true
}

// inventoryObjects is what the application's live inventory lists, read
// the way cli-utils reads it (by its id label; more than one is an error).
func (e *Engine) inventoryObjects(ctx context.Context, key inventory.Key) (object.ObjMetadataSet, error) {
	sel := labels.Set{inventory.IDLabel: key.ID()}.String()
	list, err := e.c.Dynamic.Resource(cliinventory.ConfigMapGVK.GroupVersion().WithResource("configmaps")).Namespace(key.Namespace).
		List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("application %s/%s: list inventory: %w", key.Namespace, key.Application, err)
	}
	if n := len(list.Items); n != 1 {
		return nil, fmt.Errorf("application %s/%s: %d inventories, want 1", key.Namespace, key.Application, n)
	}
	return cliinventory.WrapInventoryObj(&list.Items[0]).Load()
}

// sameObject reports whether a dry-run returned the live object unchanged.
// The API server leaves an object it would not change untouched, down to
// its managedFields, so equal content is the no-op; apiVersion and kind
// are left out because a list's items may spell them differently.
func sameObject(dryRun, live *unstructured.Unstructured) bool {
	strip := func(u *unstructured.Unstructured) map[string]any {
		m := maps.Clone(u.Object)
		delete(m, "apiVersion")
		delete(m, "kind")
		return m
	}
	return dryRun.GetAPIVersion() == live.GetAPIVersion() && reflect.DeepEqual(strip(dryRun), strip(live))
}

// status is kstatus of a live object as the run's wait would compute it.
func (e *Engine) status(u *unstructured.Unstructured) (*status.Result, error) {
	if slices.Contains(e.opts.ControllerGroups, u.GroupVersionKind().Group) {
		return controllerStatus(u)
	}
	return status.Compute(u)
}
