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

// neighbourExcess asks whether the credential holds neighbourRights in each
// of namespaces (at most maxNeighbourNamespaces of them).
func neighbourExcess(ctx context.Context, c *clusters.Clients, namespaces []string) []string {
	out := []string{}
	for i, ns := range namespaces {
		if i == maxNeighbourNamespaces {
			break
		}
		for _, attrs := range neighbourRights {
			attrs.Namespace = ns
			res, err := c.Kube.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
				Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &attrs},
			}, metav1.CreateOptions{})
			if err == nil && res.Status.Allowed {
				out = append(out, fmt.Sprintf("%s in %s", right(attrs.Verb, attrs.Group, attrs.Resource), ns))
			}
		}
	}
	return out
}
