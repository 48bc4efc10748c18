package apply

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/object"

	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/inventory"
)

// Request is one run on one application.
type Request struct {
	// Namespace and Application name the inventory: one per pair.
	Namespace   string
	Application string
	// Objects are the application's complete desired state for Apply (what
	// the inventory holds and the list lacks is pruned); empty for Destroy.
	// The engine works on copies: the caller's objects are not changed.
	Objects []*unstructured.Unstructured
	// Timeout bounds the wait for the objects to be reconciled (Apply) or
	// gone (Destroy). Zero: the Engine's Options.
	Timeout time.Duration
	// Progress, when set, is called with a snapshot of the per-object results
	// so far (the same shape as Result.Objects) each time an object is written,
	// pruned, deleted or skipped and each time an object's kstatus changes. It is
	// called from the engine's goroutine and must not block.
	//
	// The snapshot is a fresh slice the callee may keep; it lists the objects
	// the run has acted on so far (an object not reached yet is absent),
	// sorted as Result.Objects. Calls never overlap.
	Progress func(objects []ObjectResult)

	// Operation, when set, is the id of an operate job: the run works on
	// that operation's own inventory (inventory.Key.Operation), never on
	// the application's, so it neither prunes nor is pruned by the
	// application's objects.
	Operation string
	// Judge, when set, decides the status of the run's objects it has a
	// rule for, in place of kstatus: the run waits until it calls every
	// one Current, one Failed, or Timeout passes.
	Judge Judge
	// Resume asks Apply to write nothing when the inventory already lists
	// objects (an earlier attempt of the operation wrote them): the run
	// then only waits on those, and one that is gone fails the run, as it
	// is never created a second time.
	Resume bool
}

func (e *Engine) key(req Request) (inventory.Key, error) {
	k := inventory.Key{Cluster: e.c.ClusterID, Namespace: req.Namespace, Application: req.Application, Operation: req.Operation}
	return k, k.Validate()
}

// target is one object as pushd will write it.
type target struct {
	obj     *unstructured.Unstructured
	id      object.ObjMetadata
	ref     ObjectRef
	mapping *meta.RESTMapping // nil when the kind is unknown; mapErr says why
	mapErr  error
}

// prepare copies the request's objects and makes them what pushd writes:
// in the job's namespace, labeled with the cluster id, annotated with the
// owning inventory (as cli-utils will, so the preflight sees the same
// object). Objects breaking a rule (RequestRules, the rule book
// ObjectRules but kinds: the caller holds kinds to its allowlist) are
// refused together, each for its first broken rule, before any request
// that writes. Unknown kinds are left for the preflight to report.
func (e *Engine) prepare(key inventory.Key, objs []*unstructured.Unstructured) ([]target, error) {
	targets := make([]target, 0, len(objs))
	seen := make(map[object.ObjMetadata]bool, len(objs))
	reset := false
	rules := ObjectScope{Cluster: key.Cluster, Namespace: key.Namespace}
	var refused []error
	for i, in := range objs {
		if in == nil {
			refused = append(refused, &RefusedError{Object: ObjectRef{Name: fmt.Sprintf("#%d", i)}, Rule: RuleMalformed, Detail: "nil object"})
			continue
		}
		obj := in.DeepCopy()
		gvk := obj.GroupVersionKind()
		ref := ObjectRef{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind, Namespace: obj.GetNamespace(), Name: obj.GetName()}
		if gvk.Kind == "" || gvk.Version == "" || obj.GetName() == "" {
			refused = append(refused, &RefusedError{Object: ref, Rule: RuleMalformed, Detail: "apiVersion, kind and metadata.name are required"})
			continue
		}
		mapping, err := inventory.RESTMapping(e.c.Mapper, gvk.GroupKind(), gvk.Version, &reset)
		if err != nil && !meta.IsNoMatchError(err) {
			return nil, classify(fmt.Errorf("discover %s: %w", ref, err))
		}
		clusterScoped := mapping != nil && mapping.Scope.Name() == meta.RESTScopeNameRoot
		if obj.GetNamespace() == "" && !clusterScoped {
			// cli-utils does not default the namespace; the job's is meant.
			obj.SetNamespace(key.Namespace)
			ref.Namespace = key.Namespace
		}
		if broken := CheckObject(rules, Object{Unstructured: obj, ClusterScoped: clusterScoped}); len(broken) > 0 {
			refused = append(refused, &RefusedError{Object: ref, Rule: broken[0].Rule, Detail: broken[0].Message})
			continue
		}
		// The same stamp drift dry-runs put on, so they send what was applied.
		key.Stamp(obj)
		id := object.UnstructuredToObjMetadata(obj)
		if seen[id] {
			refused = append(refused, &RefusedError{Object: ref, Rule: RuleDuplicate, Detail: "listed more than once"})
			continue
		}
		seen[id] = true
		targets = append(targets, target{obj: obj, id: id, ref: ref, mapping: mapping, mapErr: err})
	}
	if len(refused) > 0 {
		return nil, errors.Join(refused...)
	}
	return targets, nil
}

// checkNamespace enforces invariant 2 of docs/architecture.md at run time: the live namespace
// carries managed-by=vworkspace. It is the run's first request, so it also
// tells an unreachable cluster or a rejected credential from a bad job.
func (e *Engine) checkNamespace(ctx context.Context, name string) error {
	ns, err := e.c.Kube.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return &NamespaceNotManagedError{Namespace: name, Missing: true}
	case err != nil:
		return classify(fmt.Errorf("get Namespace/%s: %w", name, err))
	case ns.Labels[clusters.ManagedNamespaceLabel] != clusters.ManagedNamespaceValue:
		return &NamespaceNotManagedError{Namespace: name}
	case ns.Status.Phase == corev1.NamespaceTerminating:
		return fmt.Errorf("namespace %q: terminating; nothing was written", name)
	}
	return nil
}
