package apply

import (
	"cmp"
	"fmt"
	"slices"

	"sigs.k8s.io/cli-utils/pkg/object"
)

// Actions: what the run did to an object.
const (
	ActionCreated    = "created"
	ActionConfigured = "configured"
	ActionUnchanged  = "unchanged"
	ActionPruned     = "pruned"
	ActionDeleted    = "deleted"
	ActionFailed     = "failed"
	ActionSkipped    = "skipped"
)

// ObjectRef names one object.
type ObjectRef struct {
	Group     string `json:"group"`
	Version   string `json:"version"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

// String is Kind/namespace/name, with the kind qualified by its group
// outside the core group: ConfigMap/apps/cfg, Application.vworkspace.io/apps/web.
func (r ObjectRef) String() string {
	kind := r.Kind
	if r.Group != "" {
		kind += "." + r.Group
	}
	if r.Namespace == "" {
		return kind + "/" + r.Name
	}
	return kind + "/" + r.Namespace + "/" + r.Name
}

func refFromID(id object.ObjMetadata, version string) ObjectRef {
	return ObjectRef{Group: id.GroupKind.Group, Version: version, Kind: id.GroupKind.Kind, Namespace: id.Namespace, Name: id.Name}
}

// ObjectResult is one object's outcome.
type ObjectResult struct {
	ObjectRef
	// Action is what the run did: one of the Action constants.
	Action string `json:"action"`
	// Status is the object's last kstatus: Current, InProgress, Failed,
	// Terminating, NotFound or Unknown.
	Status string `json:"status"`
	// Message explains Status, or why the action failed or was skipped.
	Message string `json:"message"`
}

// Result is what a run did, one entry per object it applied, pruned,
// deleted or refused to touch, sorted by group, kind, namespace and name.
type Result struct {
	Objects []ObjectResult `json:"objects"`
}

func (r ObjectResult) String() string {
	s := fmt.Sprintf("%s: %s, %s", r.ObjectRef, r.Action, r.Status)
	if r.Message != "" {
		s += ": " + r.Message
	}
	return s
}

func sortResults(rs []ObjectResult) {
	slices.SortFunc(rs, func(a, b ObjectResult) int {
		return cmp.Or(
			cmp.Compare(a.Group, b.Group),
			cmp.Compare(a.Kind, b.Kind),
			cmp.Compare(a.Namespace, b.Namespace),
			cmp.Compare(a.Name, b.Name),
		)
	})
}
