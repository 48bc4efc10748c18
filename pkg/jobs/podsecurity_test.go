package jobs_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/vworkspace/pushd/internal/fleettest"
	"github.com/vworkspace/pushd/internal/testbed"
	"github.com/vworkspace/pushd/internal/testbed/operator"
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/jobs"
	"github.com/vworkspace/pushd/pkg/store"
)

// setEnforce sets (or, with "", removes) the namespace's Pod Security
// enforce label on the test bed, as a cluster admin would.
func setEnforce(t *testing.T, ctx context.Context, c *testbed.Cluster, ns, level string) {
	t.Helper()
	value := `null`
	if level != "" {
		value = `"` + level + `"`
	}
	patch := `{"metadata":{"labels":{"` + clusters.PodSecurityEnforceLabel + `":` + value + `}}}`
	if _, err := fleettest.AdminClient(t, c).CoreV1().Namespaces().Patch(ctx, ns, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestPodSecurityLevelRequired labels a managed namespace of a record that
// requires Pod Security with each enforce level: privileged (which admits
// every pod, so it enforces nothing) and no label are refused at intake
// with pod_security_not_enforced, naming what the namespace has; baseline
// and restricted are accepted. (The API server refuses a label value that
// is no level; PodSecurityEnforces' test covers pushd refusing it too.) A job queued while
// the namespace enforced baseline and relabeled privileged before it is
// claimed fails at claim with the same code.
func TestPodSecurityLevelRequired(t *testing.T) {
	eachOn(t, 2, func(t *testing.T, ctx context.Context, h *harness, c *testbed.Cluster, id string) {
		rec := fleettest.Record(id, h.NS, clusters.Drift{})
		rec.RequirePodSecurity = true
		if _, _, err := h.Registry.Put(ctx, fleettest.Org, rec); err != nil {
			t.Fatal(err)
		}
		for i, tc := range []struct {
			level   string
			refused bool
		}{
			{"privileged", true}, {"", true}, {"baseline", false}, {"restricted", false},
		} {
			setEnforce(t, ctx, c, h.NS, tc.level)
			spec := h.spec("ps-"+string(rune('a'+i)), id, jobs.ActionApply, configMap("ps", map[string]string{"a": "1"}))
			_, _, err := h.Service.Submit(ctx, fleettest.Org, spec)
			var rule *jobs.RuleError
			switch {
			case tc.refused && (!errors.As(err, &rule) || rule.Code != jobs.RulePodSecurityNotEnforced):
				t.Fatalf("enforce=%q: %v, want %s", tc.level, err, jobs.RulePodSecurityNotEnforced)
			case tc.refused && tc.level != "" && !strings.Contains(rule.Message, `"`+tc.level+`"`):
				t.Fatalf("enforce=%q: the refusal does not say what the namespace has: %s", tc.level, rule.Message)
			case !tc.refused && err != nil:
				t.Fatalf("enforce=%q: %v", tc.level, err)
			}
		}

		setEnforce(t, ctx, c, h.NS, "baseline")
		blocker := h.spec("ps-blocker", id, jobs.ActionApply, app("nextcloud", map[string]string{operator.OutcomeAnnotation: operator.OutcomeHang}))
		blocker.TimeoutSeconds = 5
		h.Submit(t, blocker)
		h.Submit(t, h.spec("ps-queued", id, jobs.ActionApply, configMap("ps-queued", map[string]string{"a": "1"})))
		setEnforce(t, ctx, c, h.NS, "privileged")
		if j := h.Wait(t, "ps-queued", time.Minute); j.Status != store.JobFailed || j.Error.Code != string(jobs.RulePodSecurityNotEnforced) {
			t.Fatalf("job claimed after the namespace became privileged: %s %+v", j.Status, j.Error)
		}
	})
}
