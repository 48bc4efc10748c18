package inventory

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/cli-utils/pkg/object"

	"github.com/vworkspace/pushd/pkg/clusters"
)

// listPageSize bounds the objects of one LIST response.
const listPageSize = 500

// Inventory is one inventory ConfigMap as found in a cluster.
type Inventory struct {
	Key Key
	IDs []object.ObjMetadata // sorted
}

// List lists pushd's application inventories of the cluster (not the
// operations' inventories, see OperationLabel), ordered by namespace then
// application: one label-selected LIST of ConfigMaps per allowed namespace
// (the credential is bound in those namespaces only, so there is no
// cluster-wide list), each parsed in cli-utils' ConfigMap inventory format
// (one data key per object: namespace_name_group_kind).
func List(ctx context.Context, c *clusters.Clients, namespaces []string) ([]Inventory, error) {
	var out []Inventory
	sel := Selector(c.ClusterID).String()
	for _, ns := range namespaces {
		opts := metav1.ListOptions{LabelSelector: sel, Limit: listPageSize}
		for {
			list, err := c.Kube.CoreV1().ConfigMaps(ns).List(ctx, opts)
			if err != nil {
				return nil, fmt.Errorf("cluster %q: list inventories in namespace %q: %w", c.ClusterID, ns, err)
			}
			for _, cm := range list.Items {
				key := Key{Cluster: c.ClusterID, Namespace: ns, Application: cm.Labels[ApplicationLabel]}
				if _, op := cm.Labels[OperationLabel]; op {
					continue // an operation's, not its application's
				}
				if key.Application == "" || cm.Labels[IDLabel] != key.ID() {
					continue // not an inventory pushd wrote for this key
				}
				inv := Inventory{Key: key}
				for k := range cm.Data {
					id, err := object.ParseObjMetadata(k)
					if err != nil {
						continue
					}
					inv.IDs = append(inv.IDs, id)
				}
				slices.SortFunc(inv.IDs, func(a, b object.ObjMetadata) int { return strings.Compare(a.String(), b.String()) })
				out = append(out, inv)
			}
			if list.Continue == "" {
				break
			}
			opts.Continue = list.Continue
		}
	}
	Sort(out)
	return out, nil
}

// Sort orders inventories by namespace then application.
func Sort(invs []Inventory) {
	slices.SortFunc(invs, func(a, b Inventory) int {
		return cmp.Or(strings.Compare(a.Key.Namespace, b.Key.Namespace), strings.Compare(a.Key.Application, b.Key.Application))
	})
}

// LiveObjects reads the objects of ids from the cluster with one
// label-selected LIST per (kind, namespace) — pushd labels everything it
// writes with the cluster id — instead of a GET per object. The few objects
// the lists miss (someone removed the label) are read with a GET each, so a
// removed label is never taken for a deleted object. Absent objects are
// absent from the map; kinds the cluster no longer serves too.
func LiveObjects(ctx context.Context, c *clusters.Clients, ids []object.ObjMetadata) (map[object.ObjMetadata]*unstructured.Unstructured, error) {
	type group struct {
		gk schema.GroupKind
		ns string
	}
	groups := map[group][]object.ObjMetadata{}
	for _, id := range ids {
		g := group{id.GroupKind, id.Namespace}
		groups[g] = append(groups[g], id)
	}
	live := make(map[object.ObjMetadata]*unstructured.Unstructured, len(ids))
	sel := labels.SelectorFromSet(labels.Set{ClusterIDLabel: c.ClusterID}).String()
	reset := false
	for g, members := range groups {
		m, err := RESTMapping(c.Mapper, g.gk, "", &reset)
		if meta.IsNoMatchError(err) {
			continue // the kind is gone (a CRD deleted): its objects are too
		}
		if err != nil {
			return nil, fmt.Errorf("cluster %q: discover %s: %w", c.ClusterID, g.gk, err)
		}
		res := c.Dynamic.Resource(m.Resource).Namespace(g.ns)
		opts := metav1.ListOptions{LabelSelector: sel, Limit: listPageSize}
		for {
			list, err := res.List(ctx, opts)
			if err != nil {
				return nil, fmt.Errorf("cluster %q: list %s in namespace %q: %w", c.ClusterID, m.Resource.Resource, g.ns, err)
			}
			for i := range list.Items {
				u := &list.Items[i]
				live[object.UnstructuredToObjMetadata(u)] = u
			}
			if list.GetContinue() == "" {
				break
			}
			opts.Continue = list.GetContinue()
		}
		for _, id := range members {
			if _, ok := live[id]; ok {
				continue
			}
			u, err := res.Get(ctx, id.Name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("cluster %q: get %s: %w", c.ClusterID, id, err)
			}
			live[id] = u
		}
	}
	return live, nil
}
