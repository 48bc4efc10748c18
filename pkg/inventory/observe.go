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

// inventoryView is one inventory ConfigMap as found in the cluster.
type inventoryView struct {
	key inventory
	ids []object.ObjMetadata // sorted
}

// inventory names an inventory within a cluster.
type inventory struct{ namespace, application string }

// listInventories lists pushd's inventories of the cluster: one
// label-selected LIST of ConfigMaps per allowed namespace (the credential is
// bound in those namespaces only, so there is no cluster-wide list), each
// parsed in cli-utils' ConfigMap inventory format (one data key per object:
// namespace_name_group_kind).
func listInventories(ctx context.Context, c *clusters.Clients, namespaces []string) ([]inventoryView, error) {
	var out []inventoryView
	sel := Selector(c.ClusterID).String()
	for _, ns := range namespaces {
		opts := metav1.ListOptions{LabelSelector: sel, Limit: listPageSize}
		for {
			list, err := c.Kube.CoreV1().ConfigMaps(ns).List(ctx, opts)
			if err != nil {
				return nil, fmt.Errorf("cluster %q: list inventories in namespace %q: %w", c.ClusterID, ns, err)
			}
			for _, cm := range list.Items {
				app := cm.Labels[ApplicationLabel]
				if app == "" || cm.Labels[IDLabel] != (Key{Cluster: c.ClusterID, Namespace: ns, Application: app}).ID() {
					continue // not an inventory pushd wrote for this key
				}
				v := inventoryView{key: inventory{ns, app}}
				for k := range cm.Data {
					id, err := object.ParseObjMetadata(k)
					if err != nil {
						continue
					}
					v.ids = append(v.ids, id)
				}
				slices.SortFunc(v.ids, compareIDs)
				out = append(out, v)
			}
			if list.Continue == "" {
				break
			}
			opts.Continue = list.Continue
		}
	}
	sortViews(out)
	return out, nil
}

func sortViews(v []inventoryView) {
	slices.SortFunc(v, func(a, b inventoryView) int {
		return cmp.Or(strings.Compare(a.key.namespace, b.key.namespace), strings.Compare(a.key.application, b.key.application))
	})
}

func compareIDs(a, b object.ObjMetadata) int {
	return strings.Compare(a.String(), b.String())
}

// liveObjects reads the objects of ids from the cluster with one
// label-selected LIST per (kind, namespace) — pushd labels everything it
// writes with the cluster id — instead of a GET per object. The few objects
// the lists miss (someone removed the label) are read with a GET each, so a
// removed label is never taken for a deleted object. Absent objects are
// absent from the map; kinds the cluster no longer serves too.
func liveObjects(ctx context.Context, c *clusters.Clients, ids []object.ObjMetadata) (map[object.ObjMetadata]*unstructured.Unstructured, error) {
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
		m, err := restMapping(c, g.gk, "", &reset)
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

// restMapping resolves a kind (at version, or its preferred version when
// empty), refreshing discovery once per pass when it is unknown: a CRD may
// have been installed since discovery was cached.
func restMapping(c *clusters.Clients, gk schema.GroupKind, version string, reset *bool) (*meta.RESTMapping, error) {
	var versions []string
	if version != "" {
		versions = []string{version}
	}
	m, err := c.Mapper.RESTMapping(gk, versions...)
	if meta.IsNoMatchError(err) && !*reset {
		*reset = true
		c.Mapper.Reset()
		m, err = c.Mapper.RESTMapping(gk, versions...)
	}
	return m, err
}
