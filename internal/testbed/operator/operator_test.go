package operator_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	"github.com/vworkspace/pushd/internal/testbed"
	"github.com/vworkspace/pushd/internal/testbed/operator"
)

var bed *testbed.Bed

func TestMain(m *testing.M) {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	bed = testbed.MustStart(testbed.Options{Clusters: 1, Logger: log, OperatorDelay: 300 * time.Millisecond})
	code := m.Run()
	if err := bed.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop test bed:", err)
		code = 1
	}
	os.Exit(code)
}

// env is a fresh namespace on the bed's cluster and an admin client.
type env struct {
	ns  string
	dyn dynamic.Interface
}

func newEnv(t *testing.T) env {
	t.Helper()
	cfg := bed.Clusters[0].AdminConfig()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "t-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return env{ns.Name, dyn}
}

func (e env) create(t *testing.T, gvr schema.GroupVersionResource, kind, name string, annotations map[string]string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": gvr.GroupVersion().String(),
		"kind":       kind,
		"metadata":   map[string]any{"name": name, "namespace": e.ns},
		"spec":       map[string]any{"what": "anything"},
	}}
	u.SetAnnotations(annotations)
	got, err := e.dyn.Resource(gvr).Namespace(e.ns).Create(context.Background(), u, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// watch polls the object until done says so (or, with hold, until the
// object held still that long), returning every distinct status it saw.
func (e env) watch(t *testing.T, gvr schema.GroupVersionResource, name string, hold time.Duration, done func(*unstructured.Unstructured) bool) (last *unstructured.Unstructured, seen []map[string]any) {
	t.Helper()
	start := time.Now()
	err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		got, err := e.dyn.Resource(gvr).Namespace(e.ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		last = got
		st, _, _ := unstructured.NestedMap(got.Object, "status")
		if len(seen) == 0 || fmt.Sprint(seen[len(seen)-1]) != fmt.Sprint(st) {
			seen = append(seen, st)
		}
		if hold > 0 {
			return time.Since(start) > hold, nil
		}
		return done(got), nil
	})
	if err != nil {
		t.Fatalf("%s: %v; last status %v", name, err, last.Object["status"])
	}
	return last, seen
}

type cond struct{ status, reason, message string }

func conditions(u *unstructured.Unstructured) map[string]cond {
	list, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	out := map[string]cond{}
	for _, c := range list {
		m := c.(map[string]any)
		out[m["type"].(string)] = cond{m["status"].(string), m["reason"].(string), m["message"].(string)}
	}
	return out
}

func observedCurrent(u *unstructured.Unstructured) bool {
	g, _, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
	return g == u.GetGeneration()
}

// TestOperation drives the Operation contract: Succeeded/Failed with reason
// Running while it runs, then Succeeded=True with the annotation's outputs,
// Failed=True with its message, or neither for ever.
func TestOperation(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name        string
		annotations map[string]string
		succeeded   string // the final Succeeded and Failed condition statuses
		failed      string
		message     string // the Failed condition's message; empty: not checked
		kstatus     status.Status
		outputs     map[string]any
	}{
		{
			name: "succeeds",
			annotations: map[string]string{
				operator.OutputsAnnotation: `{"url":"https://shop.example","revision":"7"}`,
				operator.StatusAnnotation:  `{"canary":{"planted":"yes"},"phase":"Done","observedGeneration":99}`,
			},
			succeeded: "True", failed: "False", kstatus: status.CurrentStatus,
			outputs: map[string]any{"url": "https://shop.example", "revision": "7"},
		},
		{
			name:        "fails",
			annotations: map[string]string{operator.OutcomeAnnotation: operator.OutcomeFail, operator.MessageAnnotation: "quota exceeded"},
			succeeded:   "False", failed: "True", message: "quota exceeded", kstatus: status.FailedStatus,
		},
		{
			name:        "bad outputs",
			annotations: map[string]string{operator.OutputsAnnotation: `{"n":1}`},
			succeeded:   "False", failed: "True", message: "annotation " + operator.OutputsAnnotation, kstatus: status.FailedStatus,
		},
		{
			name:        "hangs",
			annotations: map[string]string{operator.OutcomeAnnotation: operator.OutcomeHang},
			succeeded:   "False", failed: "False", kstatus: status.InProgressStatus,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := strings.ReplaceAll(tt.name, " ", "-")
			e.create(t, operator.Operations, "Operation", name, tt.annotations)
			hold := time.Duration(0)
			if tt.kstatus == status.InProgressStatus {
				hold = 2 * time.Second // well past the operator's delay
			}
			last, seen := e.watch(t, operator.Operations, name, hold, func(u *unstructured.Unstructured) bool {
				c := conditions(u)
				return observedCurrent(u) && (c["Succeeded"].status == "True" || c["Failed"].status == "True")
			})
			running := slices.ContainsFunc(seen, func(st map[string]any) bool {
				u := &unstructured.Unstructured{Object: map[string]any{"status": st}}
				c := conditions(u)
				return c["Succeeded"] == cond{"False", "Running", "the operation is running"} && c["Failed"].status == "False" && c["Failed"].reason == "Running"
			})
			if !running {
				t.Errorf("never saw Succeeded=False/Failed=False with reason Running; saw %v", seen)
			}
			c := conditions(last)
			if c["Succeeded"].status != tt.succeeded || c["Failed"].status != tt.failed {
				t.Fatalf("Succeeded=%s Failed=%s, want %s/%s: %v", c["Succeeded"].status, c["Failed"].status, tt.succeeded, tt.failed, last.Object["status"])
			}
			if tt.message != "" && !strings.Contains(c["Failed"].message, tt.message) {
				t.Errorf("Failed message = %q, want it to contain %q", c["Failed"].message, tt.message)
			}
			outputs, hasOutputs, _ := unstructured.NestedMap(last.Object, "status", "outputs")
			if tt.outputs != nil && fmt.Sprint(outputs) != fmt.Sprint(tt.outputs) {
				t.Errorf("outputs = %v, want %v", outputs, tt.outputs)
			}
			if tt.outputs == nil && hasOutputs {
				t.Errorf("outputs = %v, want none", outputs)
			}
			if res, err := status.Compute(last); err != nil || res.Status != tt.kstatus {
				t.Errorf("kstatus = %+v (%v), want %s", res, err, tt.kstatus)
			}
			if tt.annotations[operator.StatusAnnotation] != "" {
				if got, _, _ := unstructured.NestedString(last.Object, "status", "canary", "planted"); got != "yes" {
					t.Errorf("planted status.canary.planted = %q, want yes: %v", got, last.Object["status"])
				}
				if got, _, _ := unstructured.NestedString(last.Object, "status", "phase"); got != "Done" {
					t.Errorf("planted status.phase = %q, want Done", got)
				}
				// The operator's own fields win over planted ones.
				if !observedCurrent(last) {
					t.Errorf("observedGeneration = %v, want the object's generation %d", last.Object["status"].(map[string]any)["observedGeneration"], last.GetGeneration())
				}
			}
		})
	}
}

// TestOperationOutputsSchema: the CRD holds status.outputs to a map of
// strings, as vWorkspace's does, and keeps other status fields.
func TestOperationOutputsSchema(t *testing.T) {
	e := newEnv(t)
	e.create(t, operator.Operations, "Operation", "schema", map[string]string{operator.OutcomeAnnotation: operator.OutcomeHang})
	ops := e.dyn.Resource(operator.Operations).Namespace(e.ns)
	// A merge patch: the operator writes the status meanwhile.
	patch := func(status string) error {
		_, err := ops.Patch(context.Background(), "schema", types.MergePatchType, []byte(`{"status":`+status+`}`), metav1.PatchOptions{}, "status")
		return err
	}
	if err := patch(`{"outputs":{"n":1}}`); !apierrors.IsInvalid(err) {
		t.Errorf("a number in status.outputs: err = %v, want Invalid", err)
	}
	if err := patch(`{"outputs":{"n":"1"},"anything":{"else":true}}`); err != nil {
		t.Fatalf("strings in status.outputs and another field: %v", err)
	}
	got, err := ops.Get(context.Background(), "schema", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v, _, _ := unstructured.NestedBool(got.Object, "status", "anything", "else"); !v {
		t.Errorf("status.anything was pruned: %v", got.Object["status"])
	}
}

// TestCreated counts the objects the operator saw under one name: a delete
// and create again is a second object, with another uid.
func TestCreated(t *testing.T) {
	e := newEnv(t)
	op := operator.For(bed.Clusters[0].Host)
	if op == nil {
		t.Fatal("no operator for the bed's cluster")
	}
	if n := op.Created(operator.Operations, e.ns, "once"); n != 0 {
		t.Fatalf("Created before any create = %d", n)
	}
	first := e.create(t, operator.Operations, "Operation", "once", nil)
	e.watch(t, operator.Operations, "once", 0, func(u *unstructured.Unstructured) bool { return conditions(u)["Succeeded"].status == "True" })
	// Its status updates are events on the same object: still one.
	if n := op.Created(operator.Operations, e.ns, "once"); n != 1 {
		t.Fatalf("Created after one create = %d, want 1", n)
	}
	if err := e.dyn.Resource(operator.Operations).Namespace(e.ns).Delete(context.Background(), "once", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	second := e.create(t, operator.Operations, "Operation", "once", nil)
	if second.GetUID() == first.GetUID() {
		t.Fatal("the object created again has the first one's uid")
	}
	err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		return op.Created(operator.Operations, e.ns, "once") == 2, nil
	})
	if err != nil {
		t.Fatalf("Created after a second create = %d, want 2", op.Created(operator.Operations, e.ns, "once"))
	}
	if n := op.Created(operator.Operations, e.ns, "other"); n != 0 {
		t.Errorf("Created of a name never created = %d", n)
	}
}

// TestBackup drives the Velero-shaped Backup through its phases. It has no
// conditions and no observedGeneration, so kstatus calls it Current all the
// way: only its phase tells.
func TestBackup(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name        string
		annotations map[string]string
		phase       string
		inProgress  bool  // passes through InProgress first
		total       int64 // want progress.totalItems, itemsBackedUp, errors, warnings
		backedUp    int64
		errors      int64
		warnings    int64
		reason      string // failureReason substring
	}{
		{name: "completed", phase: operator.PhaseCompleted, inProgress: true, total: 10, backedUp: 10},
		{
			name:        "partially-failed",
			annotations: map[string]string{operator.PhaseAnnotation: operator.PhasePartiallyFailed, operator.ItemsAnnotation: "7", operator.ErrorsAnnotation: "2", operator.WarningsAnnotation: "3"},
			phase:       operator.PhasePartiallyFailed, inProgress: true, total: 7, backedUp: 5, errors: 2, warnings: 3,
		},
		{
			name:        "failed",
			annotations: map[string]string{operator.OutcomeAnnotation: operator.OutcomeFail, operator.MessageAnnotation: "bucket gone"},
			phase:       operator.PhaseFailed, inProgress: true, total: 10, backedUp: 9, errors: 1, reason: "bucket gone",
		},
		{
			name:        "bad-items",
			annotations: map[string]string{operator.ItemsAnnotation: "many"},
			phase:       operator.PhaseFailed, inProgress: true, total: 10, backedUp: 9, errors: 1, reason: "annotation " + operator.ItemsAnnotation,
		},
		{name: "invalid", annotations: map[string]string{operator.PhaseAnnotation: operator.PhaseFailedValidation}, phase: operator.PhaseFailedValidation},
		{name: "hangs", annotations: map[string]string{operator.OutcomeAnnotation: operator.OutcomeHang}, phase: operator.PhaseInProgress, inProgress: true, total: 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.create(t, operator.Backups, "Backup", tt.name, tt.annotations)
			hold := time.Duration(0)
			if tt.phase == operator.PhaseInProgress {
				hold = 2 * time.Second
			}
			last, seen := e.watch(t, operator.Backups, tt.name, hold, func(u *unstructured.Unstructured) bool {
				p, _, _ := unstructured.NestedString(u.Object, "status", "phase")
				return p != "" && p != operator.PhaseInProgress
			})
			var phases []string
			for _, st := range seen {
				p, _ := st["phase"].(string)
				if len(phases) == 0 || phases[len(phases)-1] != p {
					phases = append(phases, p)
				}
				if st["conditions"] != nil || st["observedGeneration"] != nil {
					t.Errorf("a Backup status with conditions or observedGeneration: %v", st)
				}
				if p == operator.PhaseInProgress {
					if got := fmt.Sprint(st["progress"]); got != fmt.Sprint(map[string]any{"totalItems": tt.total, "itemsBackedUp": int64(0)}) {
						t.Errorf("InProgress progress = %s, want totalItems %d and nothing backed up", got, tt.total)
					}
					if st["startTimestamp"] == nil {
						t.Error("InProgress without a startTimestamp")
					}
				}
			}
			want := []string{"", tt.phase}
			if tt.inProgress && tt.phase != operator.PhaseInProgress {
				want = []string{"", operator.PhaseInProgress, tt.phase}
			}
			// The poll may miss the moment before the operator's first write.
			if !slices.Equal(phases, want) && !slices.Equal(phases, want[1:]) {
				t.Fatalf("phases %q, want %q", phases, want)
			}
			if res, err := status.Compute(last); err != nil || res.Status != status.CurrentStatus {
				t.Errorf("kstatus = %+v (%v), want Current (kstatus cannot judge a Backup)", res, err)
			}
			if tt.phase == operator.PhaseInProgress || tt.phase == operator.PhaseFailedValidation {
				if _, ok, _ := unstructured.NestedString(last.Object, "status", "completionTimestamp"); ok != (tt.phase == operator.PhaseFailedValidation) {
					t.Errorf("completionTimestamp present = %v in phase %s", ok, tt.phase)
				}
				return
			}
			st := last.Object["status"].(map[string]any)
			got := fmt.Sprint(st["progress"], st["errors"], st["warnings"])
			if w := fmt.Sprint(map[string]any{"totalItems": tt.total, "itemsBackedUp": tt.backedUp}, tt.errors, tt.warnings); got != w {
				t.Errorf("progress errors warnings = %s, want %s", got, w)
			}
			if st["completionTimestamp"] == nil {
				t.Error("no completionTimestamp")
			}
			reason, _ := st["failureReason"].(string)
			if (tt.reason == "") != (reason == "") || !strings.Contains(reason, tt.reason) {
				t.Errorf("failureReason = %q, want %q", reason, tt.reason)
			}
		})
	}
}
