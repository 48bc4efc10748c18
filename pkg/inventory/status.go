package inventory

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
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

// objectStatus is the kstatus of a live object. Objects of a controller
// group are InProgress until their controller observed their generation, as
// pkg/apply judges them when it waits (kstatus alone calls a custom resource
// without status Current, which a fresh one is before its controller saw it).
func objectStatus(u *unstructured.Unstructured, controllerGroups map[string]bool) (string, string) {
	if controllerGroups[u.GroupVersionKind().Group] && u.GetDeletionTimestamp() == nil && u.GetGeneration() != 0 {
		observed, found, err := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
		if err == nil && (!found || observed < u.GetGeneration()) {
			return string(status.InProgressStatus), fmt.Sprintf("waiting for the controller to observe generation %d", u.GetGeneration())
		}
	}
	res, err := status.Compute(u)
	if err != nil {
		return string(status.UnknownStatus), err.Error()
	}
	return string(res.Status), res.Message
}
