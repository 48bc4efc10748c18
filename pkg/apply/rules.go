package apply

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/vworkspace/pushd/pkg/inventory"
)

// Rule names a rule an object of a job broke; the values are the API's
// error codes for the same rules (api/openapi.yaml, RuleCode and JobError).
type Rule string

// The object rule book: every rule an object must keep to be written, in
// the order they are checked. pkg/jobs holds each manifest to it when a
// job is submitted (a refusal is a 422) and again when it is claimed, and
// the engine holds each object to it before anything is sent (prepare), so
// no caller can skip a rule. A new rule is a line here and its check.
var ObjectRules = []ObjectRule{
	{Rule: RuleClusterScoped, About: "the kind is namespaced (as the cluster's discovery says)", Check: checkClusterScoped, Alone: true},
	{Rule: RuleKindNotAllowed, About: "the kind is one a job may write (ObjectScope.Kinds)", Check: checkKind},
	{Rule: RuleNamespaceMismatch, About: "the object names no namespace, or the job's", Check: checkNamespace},
	{Rule: RuleSecretTypeNotAllowed, About: "a Secret is not of type kubernetes.io/service-account-token", Check: checkSecretType},
	{Rule: RuleServiceExternalIPs, About: "a Service sets no spec.externalIPs", Check: checkExternalIPs},
	{Rule: RuleClusterIDMismatch, About: "a cluster-id label names the job's cluster", Check: checkClusterID},
}

// Codes of the object rules.
const (
	// RuleClusterScoped: pushd only writes namespaced objects.
	RuleClusterScoped Rule = "cluster_scoped_object"
	// RuleKindNotAllowed: the kind is not on the allowlist.
	RuleKindNotAllowed Rule = "kind_not_allowed"
	// RuleNamespaceMismatch: the object is in another namespace than the job's.
	RuleNamespaceMismatch Rule = "namespace_mismatch"
	// RuleSecretTypeNotAllowed: a Secret of type
	// kubernetes.io/service-account-token makes the token controller mint a
	// token for any ServiceAccount of the namespace named in its annotation.
	RuleSecretTypeNotAllowed Rule = "secret_type_not_allowed"
	// RuleServiceExternalIPs: a Service with spec.externalIPs can intercept
	// traffic to any address, cluster-wide (CVE-2020-8554).
	RuleServiceExternalIPs Rule = "service_external_ips"
	// RuleClusterIDMismatch: the object carries another cluster's id.
	RuleClusterIDMismatch Rule = "cluster_id_mismatch"
)

// RequestRules are the engine's rules of a request's objects beyond the
// rule book: what a job's intake already refuses as a malformed manifest
// (HTTP 400), and duplicates, which only the engine looks for.
var RequestRules = []Rule{RuleMalformed, RuleDuplicate}

// Codes of the request rules.
const (
	// RuleMalformed: an object without apiVersion, kind or metadata.name.
	RuleMalformed Rule = "malformed_object"
	// RuleDuplicate: the same object listed twice.
	RuleDuplicate Rule = "duplicate_object"
)

// ObjectRule is one rule of the book: its code, what it is about, and its
// check.
type ObjectRule struct {
	Rule  Rule
	About string
	// Check returns how o breaks the rule, nil when o keeps it.
	Check func(s ObjectScope, o Object) *Violation
	// Alone: an object breaking this rule is held to no other (a
	// cluster-scoped object has no namespace to compare).
	Alone bool
}

// ObjectScope is what the rules hold a job's objects to.
type ObjectScope struct {
	// Cluster is the job's cluster id, Namespace the job's namespace.
	Cluster, Namespace string
	// Kinds a job may write; nil: kinds are not checked (the engine's
	// callers check them).
	Kinds []schema.GroupKind
}

// Object is one object as the rules see it.
type Object struct {
	*unstructured.Unstructured
	// ClusterScoped is what the caller's discovery says of the object's
	// kind: false when the kind is unknown or discovery was not asked.
	ClusterScoped bool
}

// Violation is one rule an object breaks. It names the object by kind and
// name, never by content.
type Violation struct {
	Rule Rule
	// Field is the offending part of the object, below it: "" (the object
	// itself), ".metadata.namespace", ".type", ...
	Field string
	// Value is the offending value when it is short and no secret.
	Value string
	// Message is a sentence naming the object and the rule.
	Message string
}

// CheckObject holds o to every rule of the book and returns each one it
// breaks, in the book's order; none when it may be written.
func CheckObject(s ObjectScope, o Object) []Violation {
	var out []Violation
	for _, r := range ObjectRules {
		v := r.Check(s, o)
		if v == nil {
			continue
		}
		v.Rule = r.Rule
		if r.Alone {
			return []Violation{*v}
		}
		out = append(out, *v)
	}
	return out
}

// ref names an object in a rule's message.
func ref(o Object) string { return fmt.Sprintf("%s %q", o.GetKind(), o.GetName()) }

func checkClusterScoped(_ ObjectScope, o Object) *Violation {
	if !o.ClusterScoped {
		return nil
	}
	return &Violation{Message: ref(o) + " is cluster-scoped: pushd only writes namespaced objects"}
}

func checkKind(s ObjectScope, o Object) *Violation {
	gk := o.GroupVersionKind().GroupKind()
	if s.Kinds == nil || slices.Contains(s.Kinds, gk) {
		return nil
	}
	return &Violation{Message: fmt.Sprintf("%s: kind %s is not allowed (allowed: %s)", ref(o), gk, kinds(s.Kinds))}
}

func checkNamespace(s ObjectScope, o Object) *Violation {
	ns := o.GetNamespace()
	if ns == "" || ns == s.Namespace {
		return nil
	}
	return &Violation{Field: ".metadata.namespace", Message: fmt.Sprintf("%s is in namespace %q, the job's is %q", ref(o), ns, s.Namespace)}
}

func checkSecretType(_ ObjectScope, o Object) *Violation {
	if gvk := o.GroupVersionKind(); gvk.Group != "" || gvk.Kind != "Secret" {
		return nil
	}
	t, _, _ := unstructured.NestedString(o.Object, "type")
	if t != string(corev1.SecretTypeServiceAccountToken) {
		return nil
	}
	return &Violation{Field: ".type", Value: t, Message: fmt.Sprintf("%s: type %s is not allowed (it mints ServiceAccount tokens)", ref(o), t)}
}

func checkExternalIPs(_ ObjectScope, o Object) *Violation {
	if gvk := o.GroupVersionKind(); gvk.Group != "" || gvk.Kind != "Service" {
		return nil
	}
	ips, found, _ := unstructured.NestedFieldNoCopy(o.Object, "spec", "externalIPs")
	if l, ok := ips.([]any); !found || ips == nil || (ok && len(l) == 0) {
		return nil
	}
	return &Violation{Field: ".spec.externalIPs", Message: ref(o) + ": spec.externalIPs is not allowed (it can capture any address's traffic, CVE-2020-8554)"}
}

func checkClusterID(s ObjectScope, o Object) *Violation {
	id, ok := o.GetLabels()[inventory.ClusterIDLabel]
	if !ok || id == s.Cluster {
		return nil
	}
	return &Violation{Field: ".metadata.labels", Message: fmt.Sprintf("%s carries %s=%q, but the job is for cluster %q", ref(o), inventory.ClusterIDLabel, id, s.Cluster)}
}

func kinds(gks []schema.GroupKind) string {
	out := make([]string, len(gks))
	for i, gk := range gks {
		out[i] = gk.String()
	}
	return strings.Join(out, ", ")
}
