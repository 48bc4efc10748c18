package apply

import (
	"context"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/cli-utils/pkg/kstatus/polling/engine"
	"sigs.k8s.io/cli-utils/pkg/kstatus/polling/event"
	"sigs.k8s.io/cli-utils/pkg/kstatus/polling/statusreaders"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/cli-utils/pkg/kstatus/watcher"
	"sigs.k8s.io/cli-utils/pkg/object"

	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/inventory"
)

// newStatusWatcher is the kstatus watcher both the applier and the
// destroyer use:
//   - namespace-scoped (namespaceWatcher), so a credential bound in the
//     job's namespace only can watch;
//   - filtered by the cluster-id label, so its informers hold pushd's objects
//     only, not every object of each kind in the namespace;
//   - reading objects of controllerGroups with controllerStatus;
//   - asking first, for the kinds they support, the readers in front (an
//     engine's judgedReader).
func newStatusWatcher(c *clusters.Clients, controllerGroups []string, front ...engine.StatusReader) watcher.StatusWatcher {
	w := watcher.NewDefaultStatusWatcher(c.Dynamic, c.Mapper)
	w.Filters = &watcher.Filters{Labels: labels.SelectorFromSet(labels.Set{inventory.ClusterIDLabel: c.ClusterID})}
	groups := make(map[string]bool, len(controllerGroups))
	for _, g := range controllerGroups {
		groups[g] = true
	}
	// Readers given to NewStatusReader are asked before the built-in ones
	// (Deployment, StatefulSet, ReplicaSet, generic).
	w.StatusReader = statusreaders.NewStatusReader(c.Mapper, append(front, groupReader{
		StatusReader: statusreaders.NewGenericStatusReader(c.Mapper, controllerStatus),
		groups:       groups,
	})...)
	return namespaceWatcher{w}
}

// namespaceWatcher turns cli-utils' automatic scope into namespace scope.
// Automatic lists cluster-wide as soon as the watched objects span two
// namespaces, and the destroyer offers no scope option at all; a Forbidden
// list is fatal to the run.
type namespaceWatcher struct{ watcher.StatusWatcher }

var _ watcher.StatusWatcher = namespaceWatcher{}

func (w namespaceWatcher) Watch(ctx context.Context, ids object.ObjMetadataSet, opts watcher.Options) <-chan event.Event {
	if opts.RESTScopeStrategy == watcher.RESTScopeAutomatic {
		opts.RESTScopeStrategy = watcher.RESTScopeNamespace
	}
	return w.StatusWatcher.Watch(ctx, ids, opts)
}

// groupReader narrows a status reader to some API groups.
type groupReader struct {
	engine.StatusReader
	groups map[string]bool
}

var _ engine.StatusReader = groupReader{}

func (r groupReader) Supports(gk schema.GroupKind) bool { return r.groups[gk.Group] }

// controllerStatus is kstatus for objects a controller must act on before
// they mean anything: InProgress while inventory.AwaitingController, else
// kstatus. Without it pushd would report success for work not even started.
func controllerStatus(u *unstructured.Unstructured) (*status.Result, error) {
	if msg, awaiting := inventory.AwaitingController(u); awaiting {
		return &status.Result{Status: status.InProgressStatus, Message: msg}, nil
	}
	return status.Compute(u) // reports a malformed observedGeneration itself
}
