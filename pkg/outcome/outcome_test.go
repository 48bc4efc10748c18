package outcome

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// veleroBackup is a Velero Backup as the Velero server writes it.
func veleroBackup(phase string, backedUp, total int64, errs int64) map[string]any {
	obj := map[string]any{
		"apiVersion": "velero.io/v1",
		"kind":       "Backup",
		"metadata":   map[string]any{"name": "nightly-20261204", "namespace": "velero"},
		"spec":       map[string]any{"includedNamespaces": []any{"wiki"}, "ttl": "720h0m0s"},
	}
	if phase == "" {
		return obj // not yet seen by the Velero server
	}
	obj["status"] = map[string]any{
		"phase":                         phase,
		"version":                       int64(1),
		"startTimestamp":                "2026-12-04T02:00:00Z",
		"expiration":                    "2027-01-03T02:00:00Z",
		"formatVersion":                 "1.1.0",
		"progress":                      map[string]any{"itemsBackedUp": backedUp, "totalItems": total},
		"errors":                        errs,
		"validationErrors":              nil,
		"backupItemOperationsAttempted": int64(0),
	}
	return obj
}

var veleroSpec = OperationSpec{
	Succeeded: `object.status.phase == 'Completed'`,
	Failed:    `object.status.phase in ['PartiallyFailed', 'Failed', 'FailedValidation']`,
	Message:   `object.status.phase + ': ' + string(object.status.progress.itemsBackedUp) + '/' + string(object.status.progress.totalItems) + ' items, ' + string(object.status.?errors.orValue(0)) + ' errors'`,
	Outputs: map[string]string{
		"name":  `object.metadata.name`,
		"items": `object.status.progress.itemsBackedUp`,
	},
}

func TestVeleroBackup(t *testing.T) {
	rules, err := CompileOperation(veleroSpec)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		obj  map[string]any
		want Verdict
	}{
		{"no status yet", veleroBackup("", 0, 0, 0), Verdict{State: Running,
			Outputs:  map[string]any{"name": "nightly-20261204"},
			Problems: []string{"outputs.items: no such key: status"}}},
		{"new", veleroBackup("New", 0, 0, 0), Verdict{State: Running, Message: "New: 0/0 items, 0 errors",
			Outputs: map[string]any{"name": "nightly-20261204", "items": int64(0)}}},
		{"in progress", veleroBackup("InProgress", 12, 40, 0), Verdict{State: Running, Message: "InProgress: 12/40 items, 0 errors",
			Outputs: map[string]any{"name": "nightly-20261204", "items": int64(12)}}},
		{"completed", veleroBackup("Completed", 40, 40, 0), Verdict{State: Succeeded, Message: "Completed: 40/40 items, 0 errors",
			Outputs: map[string]any{"name": "nightly-20261204", "items": int64(40)}}},
		{"partially failed", veleroBackup("PartiallyFailed", 38, 40, 2), Verdict{State: Failed, Message: "PartiallyFailed: 38/40 items, 2 errors",
			Outputs: map[string]any{"name": "nightly-20261204", "items": int64(38)}}},
		{"failed", veleroBackup("Failed", 0, 40, 1), Verdict{State: Failed, Message: "Failed: 0/40 items, 1 errors",
			Outputs: map[string]any{"name": "nightly-20261204", "items": int64(0)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, rules.Evaluate(tc.obj)); diff != "" {
				t.Errorf("verdict (-want +got):\n%s", diff)
			}
		})
	}
}

// vwsOperation is a vWorkspace Operation with the given conditions and outputs.
func vwsOperation(outputs map[string]any, conds ...map[string]any) map[string]any {
	list := make([]any, 0, len(conds))
	for _, c := range conds {
		list = append(list, c)
	}
	status := map[string]any{"conditions": list, "observedGeneration": int64(1)}
	if outputs != nil {
		status["outputs"] = outputs
	}
	return map[string]any{
		"apiVersion": "vworkspace.io/v1alpha1", "kind": "Operation",
		"metadata": map[string]any{"name": "rotate-keys", "namespace": "wiki"},
		"spec":     map[string]any{"action": "rotate-keys"},
		"status":   status,
	}
}

func cond(typ, status, reason, msg string) map[string]any {
	return map[string]any{"type": typ, "status": status, "reason": reason, "message": msg, "lastTransitionTime": "2026-12-04T10:00:00Z"}
}

func TestDefaultOperation(t *testing.T) {
	rules, err := CompileOperation(OperationSpec{})
	if err != nil {
		t.Fatal(err)
	}
	if rules != DefaultOperation() {
		t.Fatal("an empty spec is not the default contract")
	}
	running := cond("Running", "True", "Started", "rotating 3 keys")
	succeeded := cond("Succeeded", "True", "Done", "3 keys rotated")
	failed := cond("Failed", "True", "KeyVaultDown", "key vault unreachable")
	notFailed := cond("Failed", "False", "", "")
	wantConds := func(cs ...map[string]any) []Condition {
		var out []Condition
		for _, c := range cs {
			out = append(out, Condition{Type: c["type"].(string), Status: c["status"].(string), Reason: c["reason"].(string),
				Message: c["message"].(string), LastTransitionTime: "2026-12-04T10:00:00Z"})
		}
		return out
	}
	for _, tc := range []struct {
		name string
		obj  map[string]any
		want Verdict
	}{
		{"no status", map[string]any{"kind": "Operation", "metadata": map[string]any{"name": "x"}},
			Verdict{State: Running, Outputs: map[string]any{}}},
		{"running", vwsOperation(nil, running, notFailed),
			Verdict{State: Running, Outputs: map[string]any{}, Conditions: wantConds(running, notFailed)}},
		{"succeeded with outputs", vwsOperation(map[string]any{"rotated": "3", "vault": "kv-eu", "count": int64(3), "nested": map[string]any{"a": "b"}}, succeeded, notFailed),
			Verdict{State: Succeeded, Message: "3 keys rotated", Outputs: map[string]any{"rotated": "3", "vault": "kv-eu"},
				Conditions: wantConds(succeeded, notFailed)}},
		{"failed", vwsOperation(nil, running, failed),
			Verdict{State: Failed, Message: "key vault unreachable", Outputs: map[string]any{}, Conditions: wantConds(running, failed)}},
		{"failed wins over succeeded", vwsOperation(nil, succeeded, failed),
			Verdict{State: Failed, Message: "key vault unreachable", Outputs: map[string]any{}, Conditions: wantConds(succeeded, failed)}},
		{"bad output names", vwsOperation(map[string]any{"ok": "1", "not-an-identifier": "2"}, succeeded),
			Verdict{State: Succeeded, Message: "3 keys rotated", Outputs: map[string]any{"ok": "1"}, Conditions: wantConds(succeeded),
				Problems: []string{`outputs: "not-an-identifier" is not an output name`}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, rules.Evaluate(tc.obj)); diff != "" {
				t.Errorf("verdict (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDefaultOperationOutputLimits(t *testing.T) {
	outputs := map[string]any{"big": strings.Repeat("x", MaxOutputBytes)}
	for i := range MaxOutputs + 2 {
		outputs[string(rune('a'+i))] = "v"
	}
	v := DefaultOperation().Evaluate(vwsOperation(outputs, cond("Succeeded", "True", "", "")))
	if len(v.Outputs) != MaxOutputs || v.Outputs["big"] != nil {
		t.Errorf("outputs %v: want %d without big", v.Outputs, MaxOutputs)
	}
	want := []string{"outputs.big: 1026 bytes as JSON, over the limit of 1024",
		"outputs.q: over the limit of 16 outputs", "outputs.r: over the limit of 16 outputs"}
	if diff := cmp.Diff(want, v.Problems); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

func TestCompileErrors(t *testing.T) {
	for _, tc := range []struct {
		name      string
		spec      OperationSpec
		field     string
		inMessage string
	}{
		{"syntax", OperationSpec{Succeeded: `object.status.phase ==`, Failed: `false`}, "succeeded", "Syntax error"},
		{"undeclared", OperationSpec{Succeeded: `true`, Failed: `obj.status.phase == 'Failed'`}, "failed", "undeclared reference to 'obj'"},
		{"not a bool", OperationSpec{Succeeded: `'Completed'`, Failed: `false`}, "succeeded", "must evaluate to a bool, not a string"},
		{"message not a string", OperationSpec{Succeeded: `true`, Failed: `false`, Message: `1 + 1`}, "message", "must evaluate to a string, not a int"},
		{"output", OperationSpec{Succeeded: `true`, Failed: `false`, Outputs: map[string]string{"items": `object.status.progress.`}}, "outputs.items", "ERROR: <input>:1:24: Syntax error"},
		{"output name", OperationSpec{Succeeded: `true`, Failed: `false`, Outputs: map[string]string{"9lives": `1`}}, "outputs", "is not an output name"},
		{"succeeded alone", OperationSpec{Succeeded: `true`}, "failed", "both needed"},
		{"outputs alone", OperationSpec{Outputs: map[string]string{"a": `1`}}, "succeeded", "both needed"},
		{"too long", OperationSpec{Succeeded: strings.Repeat("true && ", 600) + "true", Failed: `false`}, "succeeded", "over the limit of 4096"},
		{"too many outputs", OperationSpec{Succeeded: `true`, Failed: `false`, Outputs: func() map[string]string {
			m := map[string]string{}
			for i := range MaxOutputs + 1 {
				m["o"+string(rune('a'+i))] = "1"
			}
			return m
		}()}, "outputs", "17 outputs, over the limit of 16"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CompileOperation(tc.spec)
			var ce *CompileError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v: want a *CompileError", err)
			}
			if ce.Field != tc.field || !strings.Contains(ce.Message, tc.inMessage) {
				t.Errorf("error %q on %q: want %q on %q", ce.Message, ce.Field, tc.inMessage, tc.field)
			}
		})
	}
}

func TestCostLimit(t *testing.T) {
	items := make([]any, 2000)
	for i := range items {
		items[i] = map[string]any{"name": "item", "size": int64(i)}
	}
	obj := map[string]any{"status": map[string]any{"phase": "Completed", "items": items}}
	rules, err := CompileOperation(OperationSpec{
		Succeeded: `object.status.items.all(a, object.status.items.all(b, a.size + b.size >= 0))`,
		Failed:    `object.status.phase == 'Failed'`,
		Outputs: map[string]string{
			"pairs": `object.status.items.map(a, object.status.items.filter(b, b.size < a.size).size()).size()`,
			"phase": `object.status.phase`,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	v := rules.Evaluate(obj)
	if v.State != Running {
		t.Errorf("state %s: a rule over the cost limit does not hold", v.State)
	}
	if diff := cmp.Diff(map[string]any{"phase": "Completed"}, v.Outputs); diff != "" {
		t.Errorf("outputs (-want +got):\n%s", diff)
	}
	if len(v.Problems) != 2 || !strings.HasPrefix(v.Problems[0], "succeeded: ") || !strings.HasPrefix(v.Problems[1], "outputs.pairs: ") {
		t.Fatalf("problems %q: want succeeded and outputs.pairs", v.Problems)
	}
	for _, p := range v.Problems {
		if !strings.Contains(p, "cost limit exceeded") {
			t.Errorf("problem %q: want the cost limit", p)
		}
	}
	// The same rules on a small list are within the budget.
	obj["status"].(map[string]any)["items"] = items[:10]
	if v := rules.Evaluate(obj); v.State != Succeeded || v.Outputs["pairs"] != int64(10) || len(v.Problems) > 0 {
		t.Errorf("small list: %+v", v)
	}
}

func TestOutputLimits(t *testing.T) {
	obj := veleroBackup("Completed", 40, 40, 0)
	obj["status"].(map[string]any)["log"] = strings.Repeat("line of log\n", 200)
	rules, err := CompileOperation(OperationSpec{
		Succeeded: veleroSpec.Succeeded, Failed: veleroSpec.Failed,
		Outputs: map[string]string{
			"log":      `object.status.log`,
			"progress": `object.status.progress`,
			"when":     `timestamp(object.status.startTimestamp)`,
			"took":     `timestamp(object.status.expiration) - timestamp(object.status.startTimestamp)`,
			"list":     `[object.status.phase, 1, 2.5, true, null]`,
			"optional": `object.status.?phase`,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	v := rules.Evaluate(obj)
	want := map[string]any{
		"progress": map[string]any{"itemsBackedUp": int64(40), "totalItems": int64(40)},
		"when":     "2026-12-04T02:00:00Z", "took": "720h0m0s",
		"list": []any{"Completed", int64(1), 2.5, true, nil},
	}
	if diff := cmp.Diff(want, v.Outputs); diff != "" {
		t.Errorf("outputs (-want +got):\n%s", diff)
	}
	wantProblems := []string{"outputs.log: 2602 bytes as JSON, over the limit of 1024", "outputs.optional: a optional_type is not a JSON value"}
	if diff := cmp.Diff(wantProblems, v.Problems); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

// TestOnlyNamedOutputs: a verdict carries what its rules name and the
// object's conditions, nothing else of the object.
func TestOnlyNamedOutputs(t *testing.T) {
	const canary = "CANARY-7f3a9"
	obj := veleroBackup("Completed", 40, 40, 0)
	status := obj["status"].(map[string]any)
	status["token"] = canary
	status["details"] = map[string]any{"secret": canary}
	status["conditions"] = []any{cond("Ready", "True", "Done", "uploaded with key "+canary)}
	obj["metadata"].(map[string]any)["annotations"] = map[string]any{"note": canary}
	for name, rules := range map[string]*OperationRules{"record rules": mustCompile(t, veleroSpec), "default": DefaultOperation()} {
		t.Run(name, func(t *testing.T) {
			v := rules.Evaluate(obj)
			if len(v.Conditions) != 1 || !strings.Contains(v.Conditions[0].Message, canary) {
				t.Errorf("conditions %+v: want the condition's own message", v.Conditions)
			}
			v.Conditions = nil
			b, _ := json.Marshal(v)
			if strings.Contains(string(b), canary) {
				t.Errorf("verdict %s carries the canary", b)
			}
		})
	}
}

func mustCompile(t *testing.T, spec OperationSpec) *OperationRules {
	t.Helper()
	r, err := CompileOperation(spec)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestHealth(t *testing.T) {
	// A kind whose readiness is a phase, and one whose readiness is a count.
	h, err := CompileHealth(HealthSpec{
		Current: `object.?status.?phase.orValue('') == 'Bound'`,
		Failed:  `object.?status.?phase.orValue('') == 'Lost'`,
	})
	if err != nil {
		t.Fatal(err)
	}
	counting, err := CompileHealth(HealthSpec{Current: `object.status.readyReplicas >= object.spec.replicas`})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name          string
		rules         *HealthRules
		obj           map[string]any
		status, inMsg string
	}{
		{"bound", h, map[string]any{"status": map[string]any{"phase": "Bound"}}, HealthCurrent, ""},
		{"pending", h, map[string]any{"status": map[string]any{"phase": "Pending"}}, HealthInProgress, "does not hold yet"},
		{"lost", h, map[string]any{"status": map[string]any{"phase": "Lost"}}, HealthFailed, "failed holds"},
		{"no status", h, map[string]any{}, HealthInProgress, "does not hold yet"},
		{"ready", counting, map[string]any{"spec": map[string]any{"replicas": int64(3)}, "status": map[string]any{"readyReplicas": int64(3)}}, HealthCurrent, ""},
		{"missing field", counting, map[string]any{"spec": map[string]any{"replicas": int64(3)}}, HealthInProgress, "does not hold yet"},
		{"wrong type", counting, map[string]any{"spec": map[string]any{"replicas": "three"}, "status": map[string]any{"readyReplicas": int64(3)}}, HealthInProgress, "current: no such overload"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, msg := tc.rules.Evaluate(tc.obj)
			if status != tc.status || !strings.Contains(msg, tc.inMsg) || (tc.inMsg == "" && msg != "") {
				t.Errorf("got %s %q, want %s %q", status, msg, tc.status, tc.inMsg)
			}
		})
	}
	for _, spec := range []HealthSpec{{}, {Current: `'Bound'`}, {Current: `true`, Failed: `object.(`}} {
		if _, err := CompileHealth(spec); err == nil {
			t.Errorf("%+v compiled", spec)
		}
	}
}
