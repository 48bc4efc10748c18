package health

import (
	"context"
	"fmt"
	"slices"

	"github.com/vworkspace/pushd/pkg/clusters"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Records of several organizations may name namespaces on one API server
// (a shared cluster). Each record's credential must be able to write in its
// own namespaces only: rights in a namespace another record on the same
// server allows — and this one does not — would let one organization write
// into another's. The probe asks about them and counts them as excess.

//
// Each full probe asks about at most maxNeighbourNamespaces of them (two
// access reviews each, 64 requests), paging through the sorted list: the
// next full probe starts where the last one stopped and wraps around, so
// every neighbour namespace is asked about once every
// ceil(n/maxNeighbourNamespaces) full probes. A namespace not asked about
// this time keeps the excess rights the last stored probe found in it, so
// a finding stays until a probe asks again and finds it gone.

// maxNeighbourNamespaces bounds the namespaces of other records one probe
// asks about (two access reviews each).
const maxNeighbourNamespaces = 32

// neighbourRights are the rights asked about in a neighbour's namespace: a
// write pushd's applier would use, and reading Secrets.
var neighbourRights = []authorizationv1.ResourceAttributes{
	{Verb: "create", Resource: "configmaps"},
	{Verb: "get", Resource: "secrets"},
}

// neighbours lists the namespaces that other records whose credential
// points at the same API server as rec's allow and rec does not, sorted.
func (m *Monitor) neighbours(ctx context.Context, rec *clusters.Record, c *clusters.Clients) []string {
	recs, err := m.reg.List(ctx, "")
	if err != nil {
		m.opts.Logger.Warn("list records for the neighbour check", "cluster", rec.ID, "err", err)
		return nil
	}
	var out []string
	for _, other := range recs {
		if other.ID == rec.ID {
			continue
		}
		oc, err := m.reg.Clients(other.ID)
		if err != nil || oc.Config.Host != c.Config.Host {
			continue
		}
		for _, ns := range other.AllowedNamespaces {
			if !rec.AllowsNamespace(ns) {
				out = append(out, ns)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// neighbourWindow is the page of the sorted neighbour namespaces all that
// a probe asks about: at most maxNeighbourNamespaces of them, from the
// first at or after next (a name, not an index, so a page keeps its place
// when records change), wrapping around. after is where the next page
// starts.
func neighbourWindow(all []string, next string) (window []string, after string) {
	if len(all) <= maxNeighbourNamespaces {
		return all, ""
	}
	start, _ := slices.BinarySearch(all, next)
	for i := range maxNeighbourNamespaces {
		window = append(window, all[(start+i)%len(all)])
	}
	return window, all[(start+maxNeighbourNamespaces)%len(all)]
}

// carriedNeighbours is have (this probe's excess rights) and, after them,
// the neighbour rights of prev (the stored probe's) in the namespaces of
// all this probe did not ask about (not in window), in the order of all.
func carriedNeighbours(have, prev, all, window []string) []string {
	out := have
	for _, ns := range all {
		if slices.Contains(window, ns) {
			continue
		}
		for _, attrs := range neighbourRights {
			if found := neighbourRight(attrs, ns); slices.Contains(prev, found) && !slices.Contains(have, found) {
				out = append(out, found)
			}
		}
	}
	return out
}

func neighbourRight(attrs authorizationv1.ResourceAttributes, ns string) string {
	return fmt.Sprintf("%s in %s", right(attrs.Verb, attrs.Group, attrs.Resource), ns)
}

// neighbourExcess asks whether the credential holds neighbourRights in each
// of namespaces (a neighbourWindow: the caller bounds them).
func neighbourExcess(ctx context.Context, c *clusters.Clients, namespaces []string) []string {
	out := []string{}
	for _, ns := range namespaces {
		for _, attrs := range neighbourRights {
			attrs.Namespace = ns
			res, err := c.Kube.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
				Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &attrs},
			}, metav1.CreateOptions{})
			if err == nil && res.Status.Allowed {
				out = append(out, neighbourRight(attrs, ns))
			}
		}
	}
	return out
}
