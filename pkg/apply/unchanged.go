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

// observed is what the fast paths (unchanged, applyParallel) decide on,
// read after the preflight: the live inventory and the live state of the
// request's objects that exist.
type observed struct {
	// inventory is what the live inventory lists; hasInventory is false
	// before the application's first apply.
	inventory    object.ObjMetadataSet
	hasInventory bool
	// live holds the request's existing objects (the dry-run returned a
	// resourceVersion).
	live map[object.ObjMetadata]*unstructured.Unstructured
}

// observe reads the inventory with one LIST and the existing objects with
// one label-selected LIST per kind.
func (e *Engine) observe(ctx context.Context, key inventory.Key, targets []target, dryRuns map[object.ObjMetadata]*unstructured.Unstructured) (*observed, error) {
	obs := &observed{}
	var err error
	if obs.inventory, obs.hasInventory, err = e.inventoryObjects(ctx, key); err != nil {
		return nil, err
	}
	var existing []object.ObjMetadata
	for _, t := range targets {
		if dryRuns[t.id].GetResourceVersion() != "" {
			existing = append(existing, t.id)
		}
	}
	if obs.live, err = inventory.LiveObjects(ctx, e.c, existing); err != nil {
		return nil, err
	}
	return obs, nil
}

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
// more or fewer, an object not yet Current — answers false and the run
// goes on. Ownership needs no check of its own: the dry-run sends the
// owning-inventory annotation, so an object another inventory (or none)
// owns differs from its dry-run.
func (e *Engine) unchanged(ctx context.Context, obs *observed, targets []target, dryRuns map[object.ObjMetadata]*unstructured.Unstructured,
	progress func([]ObjectResult)) (*Result, bool) {
	ids := make(object.ObjMetadataSet, len(targets))
	for i, t := range targets {
		ids[i] = t.id
	}
	if !obs.hasInventory || !obs.inventory.Equal(ids) {
		return nil, false
	}
	res := &Result{Objects: make([]ObjectResult, len(targets))}
	for i, t := range targets {
		l := obs.live[t.id]
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
	if progress != nil {
		progress(slices.Clone(res.Objects))
	}
	return res, true
}

// inventoryObjects is what the application's live inventory lists, read
// the way cli-utils reads it (by its id label; more than one is an error);
// found is false when there is none yet.
func (e *Engine) inventoryObjects(ctx context.Context, key inventory.Key) (ids object.ObjMetadataSet, found bool, err error) {
	sel := labels.Set{inventory.IDLabel: key.ID()}.String()
	list, err := e.c.Dynamic.Resource(cliinventory.ConfigMapGVK.GroupVersion().WithResource("configmaps")).Namespace(key.Namespace).
		List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, false, fmt.Errorf("application %s/%s: list inventory: %w", key.Namespace, key.Application, err)
	}
	switch n := len(list.Items); n {
	case 0:
		return nil, false, nil
	case 1:
		ids, err := cliinventory.WrapInventoryObj(&list.Items[0]).Load()
		return ids, err == nil, err
	default:
		return nil, false, fmt.Errorf("application %s/%s: %d inventories, want 1", key.Namespace, key.Application, n)
	}
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
	if res, ok := e.judges.judge(u); ok {
		return res, nil
	}
	if slices.Contains(e.opts.ControllerGroups, u.GroupVersionKind().Group) {
		return controllerStatus(u)
	}
	return status.Compute(u)
}
