package bootstrap

import (
	"context"
	"fmt"
	"slices"

	"github.com/vworkspace/pushd/pkg/clusters"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	rbacv1ac "k8s.io/client-go/applyconfigurations/rbac/v1"
)

// grantNamespace gives the ServiceAccount exactly clusters.NamespaceRules() in ns.
func (b *bootstrapper) grantNamespace(ctx context.Context, ns string) error {
	return b.applyRole(ctx, ns, b.grantName(), bootstrapGrantNamespace, clusters.NamespaceRules())
}

// grantNamespaceReads lets the ServiceAccount get the granted Namespace
// objects (to check their label before each job) and no other. With nothing
// granted the ClusterRole has no rules: a rule without resourceNames would
// match every namespace.
func (b *bootstrapper) grantNamespaceReads(ctx context.Context, granted []string) error {
	var rules []rbacv1.PolicyRule
	if len(granted) > 0 {
		rules = []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"namespaces"}, ResourceNames: granted, Verbs: []string{"get"}}}
	}
	name, lbl := b.namespacesName(), b.labels(bootstrapGrantNamespaces)
	if err := bootstrapCheckRules(rules); err != nil {
		return b.errorf("ClusterRole %s: %w", name, err)
	}
	role := rbacv1ac.ClusterRole(name).WithLabels(lbl).WithRules(bootstrapRules(rules)...)
	if _, err := b.kube.RbacV1().ClusterRoles().Apply(ctx, role, bootstrapApply); err != nil {
		return b.errorf("apply ClusterRole %s: %w", name, err)
	}
	binding := rbacv1ac.ClusterRoleBinding(name).WithLabels(lbl).
		WithRoleRef(rbacv1ac.RoleRef().WithAPIGroup(rbacv1.GroupName).WithKind("ClusterRole").WithName(name)).
		WithSubjects(b.subject())
	if _, err := b.kube.RbacV1().ClusterRoleBindings().Apply(ctx, binding, bootstrapApply); err != nil {
		return b.errorf("apply ClusterRoleBinding %s: %w", name, err)
	}
	return nil
}

// grantOwnToken lets the ServiceAccount request tokens for itself (renewal)
// and for no other ServiceAccount.
func (b *bootstrapper) grantOwnToken(ctx context.Context) error {
	rules := []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"serviceaccounts/token"}, ResourceNames: []string{b.opts.ServiceAccountName}, Verbs: []string{"create"}}}
	return b.applyRole(ctx, b.opts.ServiceAccountNamespace, b.tokenName(), bootstrapGrantToken, rules)
}

// applyRole applies a Role and a RoleBinding of the same name to the ServiceAccount.
func (b *bootstrapper) applyRole(ctx context.Context, ns, name, grant string, rules []rbacv1.PolicyRule) error {
	lbl := b.labels(grant)
	if err := bootstrapCheckRules(rules); err != nil {
		return b.errorf("Role %s/%s: %w", ns, name, err)
	}
	role := rbacv1ac.Role(name, ns).WithLabels(lbl).WithRules(bootstrapRules(rules)...)
	if _, err := b.kube.RbacV1().Roles(ns).Apply(ctx, role, bootstrapApply); err != nil {
		return b.errorf("apply Role %s/%s: %w", ns, name, err)
	}
	binding := rbacv1ac.RoleBinding(name, ns).WithLabels(lbl).
		WithRoleRef(rbacv1ac.RoleRef().WithAPIGroup(rbacv1.GroupName).WithKind("Role").WithName(name)).
		WithSubjects(b.subject())
	if _, err := b.kube.RbacV1().RoleBindings(ns).Apply(ctx, binding, bootstrapApply); err != nil {
		return b.errorf("apply RoleBinding %s/%s: %w", ns, name, err)
	}
	return nil
}

// prune deletes, by label, what an earlier run made and this one would not:
// namespace grants outside granted, token grants and ServiceAccounts outside
// the current identity. Bindings go before roles, so no binding is left
// pointing at a role that a later create could fill with other rules.
func (b *bootstrapper) prune(ctx context.Context, granted []string) error {
	saNS, saName := b.opts.ServiceAccountNamespace, b.opts.ServiceAccountName
	keepGrant := func(ns, name string) bool { return slices.Contains(granted, ns) && name == b.grantName() }
	keepToken := func(ns, name string) bool { return ns == saNS && name == b.tokenName() }
	rbac := b.kube.RbacV1()
	for _, step := range []struct {
		grant string
		keep  func(ns, name string) bool
	}{{bootstrapGrantNamespace, keepGrant}, {bootstrapGrantToken, keepToken}} {
		opts := metav1.ListOptions{LabelSelector: labels.SelectorFromSet(b.labels(step.grant)).String()}
		bindings, err := rbac.RoleBindings(metav1.NamespaceAll).List(ctx, opts)
		if err != nil {
			return b.errorf("list RoleBindings: %w", err)
		}
		for _, o := range bindings.Items {
			if !step.keep(o.Namespace, o.Name) {
				if err := b.delete(ctx, "RoleBinding", o.ObjectMeta, rbac.RoleBindings(o.Namespace).Delete); err != nil {
					return err
				}
			}
		}
		roles, err := rbac.Roles(metav1.NamespaceAll).List(ctx, opts)
		if err != nil {
			return b.errorf("list Roles: %w", err)
		}
		for _, o := range roles.Items {
			if !step.keep(o.Namespace, o.Name) {
				if err := b.delete(ctx, "Role", o.ObjectMeta, rbac.Roles(o.Namespace).Delete); err != nil {
					return err
				}
			}
		}
	}
	opts := metav1.ListOptions{LabelSelector: labels.SelectorFromSet(b.labels(bootstrapGrantIdentity)).String()}
	sas, err := b.kube.CoreV1().ServiceAccounts(metav1.NamespaceAll).List(ctx, opts)
	if err != nil {
		return b.errorf("list ServiceAccounts: %w", err)
	}
	for _, o := range sas.Items {
		if o.Namespace != saNS || o.Name != saName {
			// Deleting the old identity also invalidates the tokens minted for it.
			if err := b.delete(ctx, "ServiceAccount", o.ObjectMeta, b.kube.CoreV1().ServiceAccounts(o.Namespace).Delete); err != nil {
				return err
			}
		}
	}
	return nil
}

// delete removes one object, only if it is still the one listed (UID precondition).
func (b *bootstrapper) delete(ctx context.Context, kind string, m metav1.ObjectMeta, del func(context.Context, string, metav1.DeleteOptions) error) error {
	err := del(ctx, m.Name, metav1.DeleteOptions{Preconditions: metav1.NewUIDPreconditions(string(m.UID))})
	switch {
	case err == nil:
		b.log.Info("removed what is no longer allowed", "kind", kind, "namespace", m.Namespace, "name", m.Name)
	case apierrors.IsNotFound(err) || apierrors.IsConflict(err):
		// gone, or replaced since the list: not the object this run meant to remove
	default:
		return b.errorf("delete %s %s/%s: %w", kind, m.Namespace, m.Name, err)
	}
	return nil
}

// bootstrapCheckRules refuses, before anything is written, rules that would
// break least privilege whatever else changes: wildcards, escalate, bind,
// impersonate, and any right on RBAC objects.
func bootstrapCheckRules(rules []rbacv1.PolicyRule) error {
	for i, r := range rules {
		for _, v := range r.Verbs {
			if clusters.DangerousVerb(v) {
				return fmt.Errorf("rule %d: verb %q is never granted", i, v)
			}
		}
		if slices.Contains(r.APIGroups, "*") || slices.Contains(r.Resources, "*") || slices.Contains(r.ResourceNames, "*") || len(r.NonResourceURLs) > 0 {
			return fmt.Errorf("rule %d: wildcards and non-resource URLs are never granted", i)
		}
		if slices.Contains(r.APIGroups, rbacv1.GroupName) {
			return fmt.Errorf("rule %d: rights on %s are never granted", i, rbacv1.GroupName)
		}
	}
	return nil
}

func bootstrapRules(rules []rbacv1.PolicyRule) []*rbacv1ac.PolicyRuleApplyConfiguration {
	out := make([]*rbacv1ac.PolicyRuleApplyConfiguration, 0, len(rules))
	for _, r := range rules {
		out = append(out, rbacv1ac.PolicyRule().
			WithAPIGroups(r.APIGroups...).
			WithResources(r.Resources...).
			WithResourceNames(r.ResourceNames...).
			WithVerbs(r.Verbs...))
	}
	return out
}
