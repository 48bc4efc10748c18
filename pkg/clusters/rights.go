package clusters

import (
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// ManagedNamespaceLabel marks the namespaces pushd may write to; the value is
// ManagedNamespaceValue. Bootstrap grants rights only in namespaces that carry
// it, and the applier checks it again before every job.
const (
	ManagedNamespaceLabel = "managed-by"
	ManagedNamespaceValue = "vworkspace"
)

// applyVerbs are what cli-utils needs on a kind it applies, prunes and waits
// on: a creating server-side apply PATCH is re-authorized as create, the
// inventory-policy check GETs, the status watcher lists and watches, prune
// deletes, abandon updates (see docs/architecture.md).
var applyVerbs = []string{"get", "list", "watch", "create", "patch", "update", "delete"}

// ManagedKind is a kind pushd may write by default, with the resource its
// rights are granted on.
type ManagedKind struct {
	schema.GroupKind
	Resource string
}

// ManagedKinds are the namespaced kinds a job may write unless configured
// otherwise, and exactly those bootstrap grants rights on: one list, so the
// default allowed kinds and the granted rights cannot drift apart.
// Privilege-bearing kinds (RBAC, ServiceAccounts, Namespaces, CRDs,
// webhooks) are not among them.
var ManagedKinds = []ManagedKind{
	{schema.GroupKind{Kind: "ConfigMap"}, "configmaps"},
	{schema.GroupKind{Kind: "Secret"}, "secrets"},
	{schema.GroupKind{Kind: "Service"}, "services"},
	{schema.GroupKind{Kind: "PersistentVolumeClaim"}, "persistentvolumeclaims"},
	{schema.GroupKind{Group: "apps", Kind: "Deployment"}, "deployments"},
	{schema.GroupKind{Group: "apps", Kind: "StatefulSet"}, "statefulsets"},
	{schema.GroupKind{Group: "batch", Kind: "Job"}, "jobs"},
	{schema.GroupKind{Group: "batch", Kind: "CronJob"}, "cronjobs"},
	{schema.GroupKind{Group: "networking.k8s.io", Kind: "Ingress"}, "ingresses"},
	// Charts ship these beside their workloads (podinfo's base does); they
	// scale or protect the namespace's own pods and grant no right.
	{schema.GroupKind{Group: "autoscaling", Kind: "HorizontalPodAutoscaler"}, "horizontalpodautoscalers"},
	{schema.GroupKind{Group: "policy", Kind: "PodDisruptionBudget"}, "poddisruptionbudgets"},
	{schema.GroupKind{Group: "vworkspace.io", Kind: "Application"}, "applications"},
	{schema.GroupKind{Group: "vworkspace.io", Kind: "Operation"}, "operations"},
}

// NamespaceRules are the rights pushd needs in each allowed namespace: the
// ManagedKinds, one rule per API group in the order of the list, plus read
// access to what Deployments and StatefulSets need for their status. No
// wildcards, no RBAC, no ServiceAccounts: least privilege the probe can check
// rule by rule. (The inventory ConfigMaps are covered by ConfigMap.)
func NamespaceRules() []rbacv1.PolicyRule {
	var rules []rbacv1.PolicyRule
	index := map[string]int{}
	for _, k := range ManagedKinds {
		i, ok := index[k.Group]
		if !ok {
			i = len(rules)
			index[k.Group] = i
			rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{k.Group}, Verbs: applyVerbs})
		}
		rules[i].Resources = append(rules[i].Resources, k.Resource)
	}
	return append(rules,
		rbacv1.PolicyRule{APIGroups: []string{"apps"}, Resources: []string{"replicasets"}, Verbs: []string{"get", "list", "watch"}},
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"}},
	)
}

// DangerousVerb tells whether verb grants more than the verb's object:
// escalate and bind let a subject write RBAC beyond its own rights,
// impersonate lets it become another, and * is all of them.
func DangerousVerb(verb string) bool { return dangerousVerbs[verb] }

var dangerousVerbs = map[string]bool{"escalate": true, "bind": true, "impersonate": true, "*": true}
