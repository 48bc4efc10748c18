package operator

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// reconcileKstatus moves an Application or Operation a step along.
func (o *Operator) reconcileKstatus(ctx context.Context, k key, u *unstructured.Unstructured) (time.Duration, error) {
	gen := u.GetGeneration()
	observed, _, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
	reconciling := conditionStatus(u, "Reconciling") == "True"
	operation := k.gvr == Operations
	now := time.Now()
	a := parseKstatusAnnotations(u, operation)

	if observed != gen {
		delay := o.start(k, u, now)
		conds := []map[string]any{
			condition("Reconciling", "True", "Progressing", "reconciling generation"),
			condition("Ready", "False", "Progressing", "reconciling generation"),
		}
		if operation {
			conds = append(conds,
				condition("Succeeded", "False", "Running", "the operation is running"),
				condition("Failed", "False", "Running", "the operation is running"))
		}
		setStatus(u, a.status, gen, conds...)
		if err := o.updateStatus(ctx, k, u); err != nil {
			return 0, err
		}
		return delay, nil
	}
	if !reconciling {
		return 0, nil // this generation has its outcome
	}
	if a.outcome == OutcomeHang {
		return 0, nil
	}
	if wait := o.wait(k, now); wait > 0 {
		return wait, nil
	}
	switch a.outcome {
	case OutcomeFail:
		conds := []map[string]any{
			condition("Stalled", "True", "TestbedFailure", a.message),
			condition("Ready", "False", "TestbedFailure", a.message),
		}
		if operation {
			conds = append(conds,
				condition("Failed", "True", "TestbedFailure", a.message),
				condition("Succeeded", "False", "TestbedFailure", a.message))
		}
		setStatus(u, a.status, gen, conds...)
	default:
		if operation {
			setStatus(u, a.status, gen,
				condition("Ready", "True", "Reconciled", "reconciled by the stand-in operator"),
				condition("Succeeded", "True", "Succeeded", "the operation succeeded"),
				condition("Failed", "False", "Succeeded", "the operation succeeded"))
			outputs := map[string]any{}
			for name, v := range a.outputs {
				outputs[name] = v
			}
			u.Object["status"].(map[string]any)["outputs"] = outputs
		} else {
			setStatus(u, a.status, gen, condition("Ready", "True", "Reconciled", "reconciled by the stand-in operator"))
		}
	}
	if err := o.updateStatus(ctx, k, u); err != nil {
		return 0, err
	}
	o.done(k)
	return 0, nil
}

// kstatusAnnotations are what an Application's or Operation's annotations
// ask of the operator.
type kstatusAnnotations struct {
	outcome, message string
	outputs          map[string]string
	status           map[string]any
}

// parseKstatusAnnotations reads u's annotations; one that does not parse
// turns the outcome into fail, its message saying why, so that a test's
// mistake shows in the object instead of as a silent hang.
func parseKstatusAnnotations(u *unstructured.Unstructured, operation bool) kstatusAnnotations {
	ann := u.GetAnnotations()
	a := kstatusAnnotations{outcome: ann[OutcomeAnnotation], message: ann[MessageAnnotation]}
	if a.message == "" {
		a.message = "the stand-in operator was told to fail this object"
	}
	bad := func(name string, err error) {
		a.outcome = OutcomeFail
		a.message = fmt.Sprintf("testbed: annotation %s: %v", name, err)
	}
	if s, ok := ann[StatusAnnotation]; ok {
		if err := json.Unmarshal([]byte(s), &a.status); err != nil {
			bad(StatusAnnotation, err)
			a.status = nil
		}
	}
	if s, ok := ann[OutputsAnnotation]; ok && operation {
		if err := json.Unmarshal([]byte(s), &a.outputs); err != nil {
			bad(OutputsAnnotation, err)
		}
	}
	return a
}

func condition(typ, status, reason, message string) map[string]any {
	return map[string]any{
		"type": typ, "status": status, "reason": reason, "message": message,
		"lastTransitionTime": time.Now().UTC().Format(time.RFC3339),
	}
}

// setStatus replaces u's status by planted (a copy), observedGeneration and
// conds.
func setStatus(u *unstructured.Unstructured, planted map[string]any, gen int64, conds ...map[string]any) {
	list := make([]any, len(conds))
	for i, c := range conds {
		list[i] = c
	}
	status := map[string]any{}
	maps.Copy(status, planted)
	delete(status, "outputs") // only a succeeded Operation has outputs, the operator's own
	status["observedGeneration"] = gen
	status["conditions"] = list
	u.Object["status"] = status
}

func conditionStatus(u *unstructured.Unstructured, typ string) string {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == typ {
			s, _ := m["status"].(string)
			return s
		}
	}
	return ""
}
