package jobs

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	"github.com/vworkspace/pushd/pkg/apply"
	"github.com/vworkspace/pushd/pkg/clusters"
)

// healthJudge is the apply.Judge of the record's health rules: for a kind
// with a rule (Record.JudgeHealth), the rule's verdict replaces kstatus
// while the run waits. Nil when the record has none.
func healthJudge(rec *clusters.Record) apply.Judge {
	if len(rec.Health) == 0 {
		return nil
	}
	return func(u *unstructured.Unstructured) (status.Result, bool) {
		gvk := u.GroupVersionKind()
		st, msg, ok := rec.JudgeHealth(u.Object, gvk.Group, gvk.Kind)
		return status.Result{Status: status.Status(st), Message: msg}, ok
	}
}

// judges is a Judge asking each of js in turn; nil when all are nil.
func judges(js ...apply.Judge) apply.Judge {
	var set []apply.Judge
	for _, j := range js {
		if j != nil {
			set = append(set, j)
		}
	}
	if len(set) == 0 {
		return nil
	}
	return func(u *unstructured.Unstructured) (status.Result, bool) {
		for _, j := range set {
			if res, ok := j(u); ok {
				return res, true
			}
		}
		return status.Result{}, false
	}
}
