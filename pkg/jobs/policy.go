package jobs

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
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
)

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
