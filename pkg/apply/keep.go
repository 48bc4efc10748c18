package apply

import (
	"context"
	"encoding/json"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/cli-utils/pkg/object"

	"github.com/vworkspace/pushd/pkg/inventory"
)

// keepFieldManager owns the keep mark markKept adds to objects pushd
// applied before it honoured Helm's.
const keepFieldManager = "pushd-keep"

// markKept makes a delete or prune of gone (objects the key's inventory
// lists) leave in place those the chart marked helm.sh/resource-policy=keep.
// cli-utils keeps an object marked cli-utils.sigs.k8s.io/on-remove=keep,
// reading the mark on the live object. Objects applied since
// inventory.Key.Stamp started adding that mark to Helm's carry both; this
// adds it to the live objects that carry Helm's only, applied before. It
// costs one LIST per kind; a write only for such an object, once.
func (e *Engine) markKept(ctx context.Context, key inventory.Key, gone []object.ObjMetadata, red redactor) error {
	if len(gone) == 0 {
		return nil
	}
	live, err := inventory.LiveObjects(ctx, e.c, gone)
	if err != nil {
		return classify(fmt.Errorf("application %s/%s: read the objects to remove: %w", key.Namespace, key.Application, err))
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{inventory.KeepAnnotation: inventory.KeepValue}}})
	reset := false
	for id, u := range live {
		if !helmKept(u) || u.GetAnnotations()[inventory.KeepAnnotation] == inventory.KeepValue ||
			u.GetAnnotations()[inventory.OwningInventoryAnnotation] != key.ID() {
			continue // nothing to keep, already marked, or not this inventory's (cli-utils leaves those anyway)
		}
		ref := refFromID(id, versionOf(u))
		m, err := inventory.RESTMapping(e.c.Mapper, id.GroupKind, ref.Version, &reset)
		if err == nil {
			_, err = e.c.Dynamic.Resource(m.Resource).Namespace(id.Namespace).Patch(ctx, id.Name, types.MergePatchType, patch,
				metav1.PatchOptions{FieldManager: keepFieldManager})
		}
		if err != nil {
			err = red.error(classify(err))
			return &ObjectError{Object: ref, Verb: "mark to keep", Err: err}
		}
	}
	return nil
}

func helmKept(u *unstructured.Unstructured) bool {
	return u != nil && u.GetAnnotations()[inventory.HelmKeepAnnotation] == inventory.HelmKeepValue
}
