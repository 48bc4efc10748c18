package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/vworkspace/pushd/pkg/apply"
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/store"
)

// The rule book. A job is held to every rule when it is submitted (a
// refusal is a 422 and nothing is stored) and again when a worker claims
// it (a refusal fails the job before anything is written): a record may be
// narrowed, re-created or moved between the two. The rules, in the order
// they are checked:
//
//   - claimRules, at claim only: which record the others hold the job to;
//   - recordRules: the job as a whole against its cluster's record;
//   - apply.ObjectRules: each manifest (the engine holds each object to
//     them once more before it writes);
//   - clusterRules: what the monitor and the cluster say now.
//
// The first broken rule of the job as a whole answers; of the objects,
// every broken rule of every object answers (RuleError.More). A new rule is
// a line in its table and its check.

// claimRules are checked when a job is claimed, before the others.
var claimRules = []jobRule{
	{RuleRecordChanged, "the record the job was accepted for still exists, in the same generation", checkRecordUnchanged},
}

// recordRules hold the job as a whole to its cluster's record.
var recordRules = []jobRule{
	{RuleApplicationNotAllowed, "the application is one of the record's allowed_applications", checkApplication},
	{RuleNamespaceNotAllowed, "the namespace is one of the record's allowed_namespaces", checkNamespace},
	{RuleOperationNotAllowed, "the (engine, type) is one of the record's allowed_operations", checkOperation},
	{RuleTimeoutTooLong, "an operate job's timeout_seconds is within its type's max_duration_seconds", checkOperateTimeout},
	{RuleNoOperationObject, "an operate job lists its operation's object: a manifest outside the core API group", checkOperationObject},
	{RuleNoCredentials, "the cluster has a stored credential", checkCredentials},
}

// clusterRules ask the monitor and the cluster, once the objects passed.
var clusterRules = []clusterRule{
	{RuleOverPrivileged, "the credential holds no excess rights (the last probe), unless the record accepts them", checkPrivileges},
	{RulePodSecurityNotEnforced, "the live namespace enforces Pod Security, if the record requires it", checkPodSecurity},
}

// Codes of the rules of a job as a whole; the object rules' codes are
// apply.Rule values (ObjectCode).
const (
	// RuleRecordChanged: the record the job was accepted for was deleted,
	// or the id now names another record (a new generation, possibly of
	// another organization). Checked when the job is claimed.
	RuleRecordChanged         ErrorCode = "record_changed"
	RuleApplicationNotAllowed ErrorCode = "application_not_allowed"
	RuleNamespaceNotAllowed   ErrorCode = "namespace_not_allowed"
	RuleOperationNotAllowed   ErrorCode = "operation_not_allowed"
	// RuleTimeoutTooLong: an operate job's timeout_seconds exceeds its
	// operation type's max_duration_seconds.
	RuleTimeoutTooLong ErrorCode = "timeout_too_long"
	// RuleNoOperationObject: an operate job lists no manifest outside the
	// core API group, so there is no object to judge its outcome from.
	RuleNoOperationObject ErrorCode = "no_operation_object"
	RuleNoCredentials     ErrorCode = "no_credentials"
	// RuleOverPrivileged: the cluster's credential holds rights it should
	// not (the last probe's excess rights) and its record does not accept
	// that (accept_excess_rights).
	RuleOverPrivileged ErrorCode = "over_privileged"
	// RulePodSecurityNotEnforced: the record requires Pod Security admission
	// and the namespace's pod-security.kubernetes.io/enforce is missing, not a
	// level, or below clusters.PodSecurityMinimum (or pushd could not read it).
	RulePodSecurityNotEnforced ErrorCode = "pod_security_not_enforced"
)

// ObjectCode is the job error code of an object rule.
func ObjectCode(r apply.Rule) ErrorCode { return ErrorCode(r) }

// Rule is one rule of the book, as Rules lists it.
type Rule struct {
	Code  ErrorCode
	About string
}

// Rules lists every rule a job is held to, in the order they are checked.
func Rules() []Rule {
	var out []Rule
	for _, r := range claimRules {
		out = append(out, Rule{r.code, r.about})
	}
	for _, r := range recordRules {
		out = append(out, Rule{r.code, r.about})
	}
	for _, r := range apply.ObjectRules {
		out = append(out, Rule{ObjectCode(r.Rule), r.About})
	}
	for _, r := range clusterRules {
		out = append(out, Rule{r.code, r.about})
	}
	return out
}

// jobRule is a rule of the job as a whole that reads only the record.
type jobRule struct {
	code  ErrorCode
	about string
	check func(s *scope, c *candidate) error
}

// clusterRule is a rule that asks the monitor or the cluster; ctx bounds
// the asking.
type clusterRule struct {
	code  ErrorCode
	about string
	check func(ctx context.Context, s *scope, c *candidate) error
}

// candidate is one job being held to the rules.
type candidate struct {
	rec  *clusters.Record // nil at claim when the record is gone
	spec *Spec
	// claimed is the stored job when it is claimed; nil at intake.
	claimed *store.Job
	// clients are the cluster's, once checkCredentials found them.
	clients *clusters.Clients
}

// scope holds a job to the rule book, with the cluster registry, the
// monitor and the kinds a job may write.
type scope struct {
	clusters Clusters
	monitor  Monitor
	allowed  []schema.GroupKind
}

// DefaultAllowedKinds are the kinds a job may write unless configured
// otherwise: clusters.ManagedKinds, the namespaced kinds bootstrap grants
// rights on.
func DefaultAllowedKinds() []schema.GroupKind {
	out := make([]schema.GroupKind, len(clusters.ManagedKinds))
	for i, k := range clusters.ManagedKinds {
		out[i] = k.GroupKind
	}
	return out
}

// check holds spec to every rule of rec and returns its objects as pushd
// will write them.
func (s *scope) check(ctx context.Context, rec *clusters.Record, spec *Spec) ([]*unstructured.Unstructured, error) {
	c := &candidate{rec: rec, spec: spec}
	objs, err := s.scoped(c)
	if err != nil {
		return nil, err
	}
	for _, r := range clusterRules {
		if err := r.check(ctx, s, c); err != nil {
			return nil, err
		}
	}
	return objs, nil
}

// checkScope holds spec to the rules that need only rec and the cluster's
// cached discovery (the record rules and the objects), and returns its
// objects as pushd will write them.
func (s *scope) checkScope(rec *clusters.Record, spec *Spec) ([]*unstructured.Unstructured, error) {
	return s.scoped(&candidate{rec: rec, spec: spec})
}

func (s *scope) scoped(c *candidate) ([]*unstructured.Unstructured, error) {
	for _, r := range recordRules {
		if err := r.check(s, c); err != nil {
			return nil, err
		}
	}
	return s.checkObjects(c)
}

// recheck holds a claimed job to its cluster's record as it is now: the
// same generation and organization, and every rule a submission passes.
func (s *scope) recheck(ctx context.Context, job *store.Job) (*clusters.Record, error) {
	rec, err := s.clusters.Get(ctx, job.Organization, job.Cluster)
	if err != nil && !errors.Is(err, clusters.ErrNotFound) {
		return nil, &unreadError{err}
	}
	if errors.Is(err, clusters.ErrNotFound) {
		rec = nil
	}
	c := &candidate{rec: rec, claimed: job}
	for _, r := range claimRules {
		if err := r.check(s, c); err != nil {
			return nil, err
		}
	}
	spec := Spec{ID: job.ID, Cluster: job.Cluster, Operation: Operation{Engine: job.Engine, Type: job.Type},
		Application: job.Application, Namespace: job.Namespace, Action: job.Action, TimeoutSeconds: job.TimeoutSeconds}
	if job.Action == ActionApply || job.Action == ActionOperate {
		if err := json.Unmarshal([]byte(job.Manifests), &spec.Manifests); err != nil {
			return nil, fmt.Errorf("job %q: stored manifests: %w", job.ID, err)
		}
	}
	if _, err = s.check(ctx, rec, &spec); err != nil {
		return nil, err
	}
	return rec, nil
}

func checkRecordUnchanged(_ *scope, c *candidate) error {
	if c.claimed == nil || (c.rec != nil && c.rec.UID == c.claimed.ClusterUID) {
		return nil
	}
	return refuse(RuleRecordChanged, "cluster", "cluster %q: the record the job was accepted for no longer exists; nothing was written", c.claimed.Cluster)
}

func checkApplication(_ *scope, c *candidate) error {
	if c.rec.AllowsApplication(c.spec.Application) {
		return nil
	}
	return withValue(refuse(RuleApplicationNotAllowed, "application", "application %q is not allowed on cluster %q (allowed: %s)", c.spec.Application, c.rec.ID, list(c.rec.AllowedApplications)), c.spec.Application)
}

func checkNamespace(_ *scope, c *candidate) error {
	if c.rec.AllowsNamespace(c.spec.Namespace) {
		return nil
	}
	return withValue(refuse(RuleNamespaceNotAllowed, "namespace", "namespace %q is not allowed on cluster %q (allowed: %s)", c.spec.Namespace, c.rec.ID, list(c.rec.AllowedNamespaces)), c.spec.Namespace)
}

func checkOperation(_ *scope, c *candidate) error {
	op := clusters.Operation{Engine: c.spec.Operation.Engine, Type: c.spec.Operation.Type}
	if _, ok := c.rec.AllowedOperation(op.Engine, op.Type); ok {
		return nil
	}
	return withValue(refuse(RuleOperationNotAllowed, "operation", "operation %s/%s is not allowed on cluster %q", op.Engine, op.Type, c.rec.ID), op.Engine+"/"+op.Type)
}

func checkOperateTimeout(_ *scope, c *candidate) error {
	if c.spec.Action != ActionOperate {
		return nil
	}
	entry, _ := c.rec.AllowedOperation(c.spec.Operation.Engine, c.spec.Operation.Type)
	if max := entry.MaxDuration(); time.Duration(c.spec.TimeoutSeconds)*time.Second > max {
		return refuse(RuleTimeoutTooLong, "timeout_seconds", "timeout_seconds %d is longer than operation %s/%s allows on cluster %q (max_duration_seconds %d)",
			c.spec.TimeoutSeconds, entry.Engine, entry.Type, c.rec.ID, int(max.Seconds()))
	}
	return nil
}

func checkOperationObject(_ *scope, c *candidate) error {
	if c.spec.Action != ActionOperate {
		return nil
	}
	for _, raw := range c.spec.Manifests {
		var tm metav1.TypeMeta
		if json.Unmarshal(raw, &tm) == nil && tm.GroupVersionKind().Group != "" {
			return nil
		}
	}
	return refuse(RuleNoOperationObject, "manifests", "an operate job needs its operation's object (a custom resource, or another kind outside the core API group) to judge its outcome from")
}

func checkCredentials(s *scope, c *candidate) error {
	clients, err := s.clusters.Clients(c.rec.ID)
	if errors.Is(err, clusters.ErrNoCredentials) {
		return refuse(RuleNoCredentials, "cluster", "cluster %q has no credential yet: PUT its kubeconfig or run pushd clusters bootstrap", c.rec.ID)
	}
	if err != nil {
		return err
	}
	c.clients = clients
	return nil
}

// checkObjects holds every manifest to apply.ObjectRules and returns them
// as pushd will write them (namespace filled in). Every broken rule of
// every object is refused together; a malformed manifest ends the check.
func (s *scope) checkObjects(c *candidate) ([]*unstructured.Unstructured, error) {
	rules := apply.ObjectScope{Cluster: c.rec.ID, Namespace: c.spec.Namespace, Kinds: s.allowed}
	objs := make([]*unstructured.Unstructured, 0, len(c.spec.Manifests))
	var refused []*RuleError
	for i, raw := range c.spec.Manifests {
		field := fmt.Sprintf("manifests[%d]", i)
		u := &unstructured.Unstructured{}
		err := u.UnmarshalJSON(raw)
		if err == nil && u.GetName() == "" {
			err = &FieldError{field + ".metadata.name", "required"}
		} else if err != nil { // its message quotes the object: not sent
			err = &FieldError{field, "not a Kubernetes object: needs apiVersion, kind and metadata.name"}
		}
		if err != nil {
			if len(refused) > 0 {
				break // the refusals found so far answer, as the first did before
			}
			return nil, err
		}
		broken := apply.CheckObject(rules, apply.Object{Unstructured: u, ClusterScoped: s.clusterScoped(c.clients, c.rec.ID, u.GroupVersionKind())})
		for _, v := range broken {
			refused = append(refused, &RuleError{Code: ObjectCode(v.Rule), Field: field + v.Field, Value: v.Value, Message: v.Message,
				APIVersion: u.GetAPIVersion(), Kind: u.GetKind(), Name: u.GetName()})
		}
		if len(broken) == 0 {
			if u.GetNamespace() == "" {
				u.SetNamespace(c.spec.Namespace)
			}
			objs = append(objs, u)
		}
	}
	if err := refusals(refused); err != nil {
		return nil, err
	}
	return objs, nil
}

// clusterScoped asks the cluster's (cached) discovery whether gvk is
// cluster-scoped. When the cluster cannot be asked, the kind allowlist —
// namespaced kinds only — is what refuses cluster-scoped objects.
func (s *scope) clusterScoped(c *clusters.Clients, cluster string, gvk schema.GroupVersionKind) bool {
	if !s.monitor.Allow(cluster) {
		return false
	}
	m, err := c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	return err == nil && m.Scope.Name() == meta.RESTScopeNameRoot
}

// checkPrivileges refuses jobs for a cluster whose credential the last
// probe found over-privileged, unless the record accepts it: pushd's
// least-privilege promise is only as good as the credential it writes with.
func checkPrivileges(ctx context.Context, s *scope, c *candidate) error {
	if c.rec.AcceptExcessRights {
		return nil
	}
	st, err := s.monitor.Observed(ctx, c.rec.ID)
	if err != nil {
		return &unreadError{fmt.Errorf("cluster %q: observed status: %w", c.rec.ID, err)}
	}
	if st.OverPrivileged() {
		return refuse(RuleOverPrivileged, "cluster", "cluster %q: its credential holds rights it should not (see the cluster's excess_rights); replace it with a least-privilege one, or set accept_excess_rights on the record", c.rec.ID)
	}
	return nil
}

// checkPodSecurity refuses a job into a namespace that does not enforce at
// least clusters.PodSecurityMinimum when the cluster's record requires Pod
// Security: enforce=privileged admits every pod, and an unknown value is no
// level. The live namespace is read now, at intake and again at claim: a
// label seen by the last probe may have been changed since.
func checkPodSecurity(ctx context.Context, _ *scope, c *candidate) error {
	if !c.rec.RequirePodSecurity {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rec, namespace := c.rec, c.spec.Namespace
	ns, err := c.clients.Kube.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{})
	if err != nil {
		return withValue(refuse(RulePodSecurityNotEnforced, "namespace", "cluster %q requires Pod Security enforcement; namespace %q could not be read to confirm it", rec.ID, namespace), namespace)
	}
	level, ok := ns.Labels[clusters.PodSecurityEnforceLabel]
	if !ok {
		return withValue(refuse(RulePodSecurityNotEnforced, "namespace", "cluster %q requires Pod Security enforcement of at least %s; namespace %q has no %s label", rec.ID, clusters.PodSecurityMinimum, namespace, clusters.PodSecurityEnforceLabel), namespace)
	}
	if !clusters.PodSecurityEnforces(level, clusters.PodSecurityMinimum) {
		return withValue(refuse(RulePodSecurityNotEnforced, "namespace", "cluster %q requires Pod Security enforcement of at least %s; namespace %q has %s=%q", rec.ID, clusters.PodSecurityMinimum, namespace, clusters.PodSecurityEnforceLabel, level), namespace)
	}
	return nil
}

func list(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
