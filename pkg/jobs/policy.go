package jobs

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/vworkspace/pushd/pkg/clusters"
)

// Rule codes of the kind policy: objects of an allowed kind whose content
// reaches beyond the namespace the cluster's credential is scoped to.
const (
	// RuleSecretTypeNotAllowed: a Secret of type
	// kubernetes.io/service-account-token makes the token controller mint a
	// token for any ServiceAccount of the namespace named in its annotation.
	RuleSecretTypeNotAllowed = "secret_type_not_allowed"
	// RuleServiceExternalIPs: a Service with spec.externalIPs can intercept
	// traffic to any address, cluster-wide (CVE-2020-8554).
	RuleServiceExternalIPs = "service_external_ips"
	// RulePodSecurityNotEnforced: the record requires Pod Security admission
	// and the namespace does not carry pod-security.kubernetes.io/enforce (or
	// pushd could not read it).
	RulePodSecurityNotEnforced = "pod_security_not_enforced"
)

// checkPodSecurity refuses a job into a namespace without Pod Security
// enforcement when the cluster's record requires it. The live namespace is
// read now: a label seen by the last probe may have been removed since.
func (s *scope) checkPodSecurity(ctx context.Context, rec *clusters.Record, namespace string) error {
	if !rec.RequirePodSecurity {
		return nil
	}
	c, err := s.clusters.Clients(rec.ID)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ns, err := c.Kube.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{})
	if err != nil {
		return withValue(refuse(RulePodSecurityNotEnforced, "namespace", "cluster %q requires Pod Security enforcement; namespace %q could not be read to confirm it", rec.ID, namespace), namespace)
	}
	if ns.Labels[clusters.PodSecurityEnforceLabel] == "" {
		return withValue(refuse(RulePodSecurityNotEnforced, "namespace", "cluster %q requires Pod Security enforcement; namespace %q has no %s label", rec.ID, namespace, clusters.PodSecurityEnforceLabel), namespace)
	}
	return nil
}

// withValue sets a rule error's offending value (a name, never content).
func withValue(err error, v string) error {
	err.(*RuleError).Value = v
	return err
}

// checkPolicy refuses objects that reach beyond their namespace. It names
// the object by field and kind/name, never by content.
func checkPolicy(field string, u *unstructured.Unstructured) error {
	gvk := u.GroupVersionKind()
	if gvk.Group != "" {
		return nil
	}
	switch gvk.Kind {
	case "Secret":
		if t, _, _ := unstructured.NestedString(u.Object, "type"); t == string(corev1.SecretTypeServiceAccountToken) {
			return withValue(refuse(RuleSecretTypeNotAllowed, field+".type", "Secret %q: type %s is not allowed (it mints ServiceAccount tokens)", u.GetName(), t), t)
		}
	case "Service":
		if ips, found, _ := unstructured.NestedFieldNoCopy(u.Object, "spec", "externalIPs"); found && ips != nil {
			if l, ok := ips.([]any); !ok || len(l) > 0 {
				return refuse(RuleServiceExternalIPs, field+".spec.externalIPs", "Service %q: spec.externalIPs is not allowed (it can capture any address's traffic, CVE-2020-8554)", u.GetName())
			}
		}
	}
	return nil
}
