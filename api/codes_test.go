package api_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/vworkspace/pushd/pkg/jobs"
)

// clusterRuleCodes are the RuleCode values that are no rule of a job: the
// cluster endpoints' refusals (a record or a kubeconfig refused).
var clusterRuleCodes = []string{"kubeconfig_rejected", "connectivity_not_supported", "invalid_drift_schedule", "invalid_rule", "cluster_id_outside_organization"}

// TestJobCodesAsDocumented ties the job codes of the Go code to the
// contract, both ways: every rule of the rule book is a RuleCode (and every
// RuleCode a rule, or a cluster endpoint's), every code a failed job can
// carry is a row of JobError's table (and every row such a code), and the
// cancellation and wait reasons are their schemas' enums.
func TestJobCodesAsDocumented(t *testing.T) {
	doc := load(t)
	schema := func(name string) *openapi3.Schema {
		ref := doc.Components.Schemas[name]
		if ref == nil || ref.Value == nil {
			t.Fatalf("no schema %s", name)
		}
		return ref.Value
	}
	var rules []string
	for _, r := range append(jobs.Rules(), jobs.IntakeRules()...) {
		rules = append(rules, string(r.Code))
	}
	same(t, "RuleCode's enum (rules of a job, then of clusters)", values(schema("RuleCode")), append(rules, clusterRuleCodes...))
	same(t, "JobError's table", tableCodes(t, schema("JobError").Description), strs(jobs.FailureCodes()))
	same(t, "JobCancellation.reason's enum", values(schema("JobCancellation").Properties["reason"].Value), strs(jobs.CancelCodes()))
	same(t, "JobWaiting.reason's enum", values(schema("JobWaiting").Properties["reason"].Value), jobs.WaitReasons())
}

// same reports the codes one list has and the other lacks.
func same(t *testing.T, what string, doc, code []string) {
	t.Helper()
	if len(doc) == 0 {
		t.Errorf("%s: no codes found", what)
	}
	for _, c := range code {
		if !slices.Contains(doc, c) {
			t.Errorf("%s: %s is a code of pkg/jobs the contract does not list", what, c)
		}
	}
	for _, c := range doc {
		if !slices.Contains(code, c) {
			t.Errorf("%s: %s is listed, but no code of pkg/jobs", what, c)
		}
	}
	if n := len(slices.Compact(slices.Sorted(slices.Values(code)))); n != len(code) {
		t.Errorf("%s: pkg/jobs lists a code twice: %v", what, code)
	}
}

func values(s *openapi3.Schema) []string {
	var out []string
	for _, v := range s.Enum {
		out = append(out, v.(string))
	}
	return out
}

func strs(codes []jobs.ErrorCode) []string {
	out := make([]string, len(codes))
	for i, c := range codes {
		out[i] = string(c)
	}
	return out
}

var codeRE = regexp.MustCompile("`([a-z][a-z0-9_]*)`")

// tableCodes are the codes in the first column of a Markdown table.
func tableCodes(t *testing.T, description string) []string {
	t.Helper()
	var out []string
	for _, line := range strings.Split(description, "\n") {
		cells := strings.Split(line, "|")
		if !strings.HasPrefix(line, "|") || len(cells) < 3 {
			continue
		}
		for _, m := range codeRE.FindAllStringSubmatch(cells[1], -1) {
			out = append(out, m[1])
		}
	}
	return out
}
