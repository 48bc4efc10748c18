package observe

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/inventory"
)

// healthRank orders kstatus from best to worst for the aggregate health.
var healthRank = map[string]int{
	string(status.CurrentStatus):     0,
	string(status.InProgressStatus):  1,
	string(status.TerminatingStatus): 2,
	string(status.UnknownStatus):     3,
	string(status.NotFoundStatus):    4,
	string(status.FailedStatus):      5,
}

// aggregate is the worst of the statuses, Current when there are none.
func aggregate(statuses []string) string {
	worst := string(status.CurrentStatus)
	for _, s := range statuses {
		r, ok := healthRank[s]
		if !ok {
			r, s = healthRank[string(status.UnknownStatus)], string(status.UnknownStatus)
		}
		if r > healthRank[worst] {
			worst = s
		}
	}
	return worst
}

// objectStatus is the status of a live object as pkg/apply judges it when
// it waits: by the record's health rule for its kind when it has one
// (Record.JudgeHealth), else kstatus, objects of a controller group being
// InProgress while inventory.AwaitingController.
func objectStatus(u *unstructured.Unstructured, rec *clusters.Record, controllerGroups map[string]bool) (string, string) {
	gvk := u.GroupVersionKind()
	if st, msg, ok := rec.JudgeHealth(u.Object, gvk.Group, gvk.Kind); ok {
		return st, msg
	}
	if controllerGroups[u.GroupVersionKind().Group] {
		if msg, awaiting := inventory.AwaitingController(u); awaiting {
			return string(status.InProgressStatus), msg
		}
	}
	res, err := status.Compute(u)
	if err != nil {
		return string(status.UnknownStatus), err.Error()
	}
	return string(res.Status), res.Message
}
