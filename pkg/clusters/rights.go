package clusters

import (
	rbacv1 "k8s.io/api/rbac/v1"
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

// NamespaceRules are the rights pushd needs in each allowed namespace: the
// kinds it may apply, the inventory ConfigMaps, and read access to what
// Deployments and StatefulSets need for their status. No wildcards, no RBAC,
// no ServiceAccounts: least privilege the probe can check rule by rule.
func NamespaceRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"configmaps", "secrets", "services", "persistentvolumeclaims"}, Verbs: applyVerbs},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments", "statefulsets"}, Verbs: applyVerbs},
		{APIGroups: []string{"batch"}, Resources: []string{"jobs", "cronjobs"}, Verbs: applyVerbs},
		{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses"}, Verbs: applyVerbs},
		{APIGroups: []string{"vworkspace.io"}, Resources: []string{"applications", "operations"}, Verbs: applyVerbs},
		{APIGroups: []string{"apps"}, Resources: []string{"replicasets"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"}},
	}
}

// dangerousVerbs grant more than the verb's object: escalate and bind let a
// subject write RBAC beyond its own rights, impersonate lets it become another.
var dangerousVerbs = map[string]bool{"escalate": true, "bind": true, "impersonate": true, "*": true}
