package apply_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	cliinventory "sigs.k8s.io/cli-utils/pkg/inventory"

	"github.com/vworkspace/pushd/internal/testbed/operator"
	"github.com/vworkspace/pushd/pkg/apply"
	"github.com/vworkspace/pushd/pkg/inventory"
)

// ignoreMessage compares results without their free-text messages, which
// the cases check separately where they matter.
var ignoreMessage = cmpopts.IgnoreFields(apply.ObjectResult{}, "Message")

func result(group, version, kind, ns, name, action, status string) apply.ObjectResult {
	return apply.ObjectResult{
		ObjectRef: apply.ObjectRef{Group: group, Version: version, Kind: kind, Namespace: ns, Name: name},
		Action:    action,
		Status:    status,
	}
}

// TestApplyStory runs one application through its life, each step on the
// cluster state the previous one left.
func TestApplyStory(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, true, apply.Options{})
	key := inventory.Key{Cluster: clusterID, Namespace: e.ns, Application: "web"}
	req := func(timeout time.Duration, files ...string) apply.Request {
		return apply.Request{Namespace: e.ns, Application: "web", Objects: load(t, files...), Timeout: timeout}
	}
	app := func(name, action, status string) apply.ObjectResult {
		return result("vworkspace.io", "v1alpha1", "Application", e.ns, name, action, status)
	}
	cm := func(name, action, status string) apply.ObjectResult {
		return result("", "v1", "ConfigMap", e.ns, name, action, status)
	}

	t.Run("creates objects and waits for the operator", func(t *testing.T) {
		res, err := e.engine.Apply(ctx, req(time.Minute, "app.yaml", "configmap.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		want := []apply.ObjectResult{cm("web-config", "created", "Current"), app("web", "created", "Current")}
		if diff := cmp.Diff(want, res.Objects, ignoreMessage); diff != "" {
			t.Errorf("objects (-want +got):\n%s", diff)
		}
		// Success must mean the operator reconciled this generation, not
		// that kstatus saw a CR without status.
		live := e.get(t, operator.Applications.Resource, "web")
		observed, _, _ := unstructured.NestedInt64(live.Object, "status", "observedGeneration")
		if observed != live.GetGeneration() || !ready(live) {
			t.Errorf("Apply returned before the operator reconciled: observedGeneration %d of %d, status %v", observed, live.GetGeneration(), live.Object["status"])
		}
		for _, o := range []*unstructured.Unstructured{live, e.get(t, "configmaps", "web-config")} {
			if got := o.GetLabels()[inventory.ClusterIDLabel]; got != clusterID {
				t.Errorf("%s: label %s = %q, want %q", o.GetName(), inventory.ClusterIDLabel, got, clusterID)
			}
			if got := o.GetAnnotations()[cliinventory.OwningInventoryKey]; got != key.ID() {
				t.Errorf("%s: owning inventory %q, want %q", o.GetName(), got, key.ID())
			}
			if !managedBy(o, apply.FieldManager) {
				t.Errorf("%s: no server-side apply entry of %q in managedFields", o.GetName(), apply.FieldManager)
			}
		}
		inv := e.inventory(t, key)
		if inv == nil {
			t.Fatal("no inventory ConfigMap")
		}
		if diff := cmp.Diff(key.Labels(), inv.Labels); diff != "" {
			t.Errorf("inventory labels (-want +got):\n%s", diff)
		}
		if inv.Name != key.Name() || len(inv.Data) != 2 {
			t.Errorf("inventory %s holds %v, want %s holding 2 objects", inv.Name, inv.Data, key.Name())
		}
	})

	t.Run("re-applying the same objects changes nothing", func(t *testing.T) {
		before := e.get(t, "configmaps", "web-config").GetResourceVersion()
		res, err := e.engine.Apply(ctx, req(time.Minute, "app.yaml", "configmap.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		want := []apply.ObjectResult{cm("web-config", "unchanged", "Current"), app("web", "unchanged", "Current")}
		if diff := cmp.Diff(want, res.Objects, ignoreMessage); diff != "" {
			t.Errorf("objects (-want +got):\n%s", diff)
		}
		if after := e.get(t, "configmaps", "web-config").GetResourceVersion(); after != before {
			t.Errorf("ConfigMap written again: resourceVersion %s → %s", before, after)
		}
	})

	t.Run("changing an object configures it", func(t *testing.T) {
		objs := load(t, "app.yaml", "configmap.yaml")
		unstructured.SetNestedField(objs[1].Object, "1G", "data", "PHP_MEMORY_LIMIT")
		res, err := e.engine.Apply(ctx, apply.Request{Namespace: e.ns, Application: "web", Objects: objs})
		if err != nil {
			t.Fatal(err)
		}
		want := []apply.ObjectResult{cm("web-config", "configured", "Current"), app("web", "unchanged", "Current")}
		if diff := cmp.Diff(want, res.Objects, ignoreMessage); diff != "" {
			t.Errorf("objects (-want +got):\n%s", diff)
		}
	})

	t.Run("a field another manager took is taken back", func(t *testing.T) {
		// Someone forces their own value into a field pushd applies.
		patch := []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"web-config"},"data":{"PHP_MEMORY_LIMIT":"64M"}}`)
		force := true
		if _, err := e.adminDyn.Resource(corev1.SchemeGroupVersion.WithResource("configmaps")).Namespace(e.ns).Patch(ctx, "web-config",
			types.ApplyPatchType, patch, metav1.PatchOptions{FieldManager: "someone", Force: &force}); err != nil {
			t.Fatal(err)
		}
		objs := load(t, "app.yaml", "configmap.yaml")
		unstructured.SetNestedField(objs[1].Object, "1G", "data", "PHP_MEMORY_LIMIT")
		res, err := e.engine.Apply(ctx, apply.Request{Namespace: e.ns, Application: "web", Objects: objs})
		if err != nil {
			t.Fatal(err)
		}
		if got := find(res, "web-config"); got.Action != "configured" {
			t.Errorf("web-config = %+v, want configured", got)
		}
		if got, _, _ := unstructured.NestedString(e.get(t, "configmaps", "web-config").Object, "data", "PHP_MEMORY_LIMIT"); got != "1G" {
			t.Errorf("PHP_MEMORY_LIMIT = %q, want pushd's 1G back", got)
		}
	})

	t.Run("objects left out are pruned", func(t *testing.T) {
		res, err := e.engine.Apply(ctx, req(time.Minute, "app.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		want := []apply.ObjectResult{cm("web-config", "pruned", "NotFound"), app("web", "unchanged", "Current")}
		if diff := cmp.Diff(want, res.Objects, ignoreMessage); diff != "" {
			t.Errorf("objects (-want +got):\n%s", diff)
		}
		if e.exists(t, "configmaps", "web-config") {
			t.Error("pruned ConfigMap still exists")
		}
		if inv := e.inventory(t, key); inv == nil || len(inv.Data) != 1 {
			t.Errorf("inventory = %v, want one object", inv)
		}
	})

	t.Run("an object the operator fails fails the run with its message", func(t *testing.T) {
		res, err := e.engine.Apply(ctx, req(time.Minute, "app.yaml", "failing.yaml"))
		t.Logf("error: %v", err)
		var failed *apply.ObjectFailedError
		if !errors.As(err, &failed) {
			t.Fatalf("err = %v, want an ObjectFailedError", err)
		}
		if failed.Object.Name != "broken" || !strings.Contains(failed.Message, "disk full on volume data") {
			t.Errorf("failed = %+v, want broken with the operator's message", failed)
		}
		if !strings.Contains(err.Error(), "Application.vworkspace.io/"+e.ns+"/broken") {
			t.Errorf("error %q does not name the object", err)
		}
		if got := find(res, "broken"); got.Status != "Failed" || got.Action != "created" {
			t.Errorf("broken = %+v, want created and Failed", got)
		}
	})

	t.Run("a hanging object times out naming it", func(t *testing.T) {
		start := time.Now()
		res, err := e.engine.Apply(ctx, req(2*time.Second, "app.yaml", "hanging.yaml"))
		t.Logf("error: %v", err)
		var timeout *apply.TimeoutError
		if !errors.As(err, &timeout) {
			t.Fatalf("err = %v, want a TimeoutError", err)
		}
		if elapsed := time.Since(start); elapsed > 20*time.Second {
			t.Errorf("took %s with a 2s timeout", elapsed)
		}
		want := []apply.ObjectResult{app("stuck", "created", "InProgress")}
		if diff := cmp.Diff(want, timeout.Objects, ignoreMessage); diff != "" {
			t.Errorf("timed-out objects (-want +got):\n%s", diff)
		}
		// broken left the set: the run still prunes after the timeout.
		if got := find(res, "broken"); got.Action != "pruned" {
			t.Errorf("broken = %+v, want pruned", got)
		}
	})

	t.Run("an invalid object fails the preflight and nothing is written", func(t *testing.T) {
		invBefore := e.inventory(t, key)
		appBefore := e.get(t, operator.Applications.Resource, "web").GetResourceVersion()
		objs := load(t, "app.yaml", "invalid.yaml")
		unstructured.SetNestedField(objs[0].Object, "30.0.0", "spec", "version") // would be a change
		res, err := e.engine.Apply(ctx, apply.Request{Namespace: e.ns, Application: "web", Objects: objs})
		t.Logf("error: %v", err)
		var pre *apply.PreflightError
		if !errors.As(err, &pre) {
			t.Fatalf("err = %v, want a PreflightError", err)
		}
		var refused []string
		for _, o := range pre.Objects {
			refused = append(refused, o.Object.Name)
		}
		slices.Sort(refused)
		if diff := cmp.Diff([]string{"Bad_Name", "bad-data", "g"}, refused); diff != "" {
			t.Errorf("refused objects (-want +got):\n%s\nerror: %v", diff, err)
		}
		want := []apply.ObjectResult{
			cm("Bad_Name", "failed", "Unknown"), cm("bad-data", "failed", "Unknown"), cm("extra", "skipped", "Unknown"),
			result("nowhere.pushd.test", "v1", "Gadget", e.ns, "g", "failed", "Unknown"), app("web", "skipped", "Unknown"),
		}
		if diff := cmp.Diff(want, res.Objects, ignoreMessage); diff != "" {
			t.Errorf("objects (-want +got):\n%s", diff)
		}
		if e.exists(t, "configmaps", "extra") {
			t.Error("the valid newcomer was written despite the failed preflight")
		}
		if got := e.get(t, operator.Applications.Resource, "web").GetResourceVersion(); got != appBefore {
			t.Error("the Application was written despite the failed preflight")
		}
		if diff := cmp.Diff(invBefore.Data, e.inventory(t, key).Data); diff != "" {
			t.Errorf("inventory changed (-before +after):\n%s", diff)
		}
	})

	t.Run("objects of another inventory or of none are not taken over", func(t *testing.T) {
		foreign := e.createConfigMap(t, "foreign", map[string]string{cliinventory.OwningInventoryKey: "someone-else"})
		unowned := e.createConfigMap(t, "unowned", nil)
		objs := load(t, "app.yaml")
		for _, name := range []string{"foreign", "unowned"} {
			objs = append(objs, &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "v1", "kind": "ConfigMap",
				"metadata": map[string]any{"name": name},
				"data":     map[string]any{"owner": "pushd"},
			}})
		}
		res, err := e.engine.Apply(ctx, apply.Request{Namespace: e.ns, Application: "web", Objects: objs, Timeout: time.Minute})
		t.Logf("error: %v", err)
		owned := map[string]bool{}
		for _, one := range unjoin(err) {
			var oe *apply.OwnershipError
			if !errors.As(one, &oe) {
				t.Errorf("unexpected error: %v", one)
				continue
			}
			owned[oe.Object.Name] = oe.Owned
		}
		if diff := cmp.Diff(map[string]bool{"foreign": true, "unowned": false}, owned); diff != "" {
			t.Errorf("ownership errors (-want +got):\n%s", diff)
		}
		want := []apply.ObjectResult{
			cm("foreign", "skipped", "Unknown"), cm("unowned", "skipped", "Unknown"),
			app("stuck", "pruned", "NotFound"), app("web", "unchanged", "Current"),
		}
		if diff := cmp.Diff(want, res.Objects, ignoreMessage); diff != "" {
			t.Errorf("objects (-want +got):\n%s", diff)
		}
		for _, before := range []*unstructured.Unstructured{foreign, unowned} {
			after := e.get(t, "configmaps", before.GetName())
			if after.GetResourceVersion() != before.GetResourceVersion() {
				t.Errorf("%s was written: %v", before.GetName(), after.Object)
			}
		}
		if inv := e.inventory(t, key); inv == nil || len(inv.Data) != 1 {
			t.Errorf("inventory = %v, want only the Application", inv)
		}
	})

	t.Run("destroy deletes every object and the inventory", func(t *testing.T) {
		res, err := e.engine.Destroy(ctx, apply.Request{Namespace: e.ns, Application: "web", Timeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		want := []apply.ObjectResult{app("web", "deleted", "NotFound")}
		if diff := cmp.Diff(want, res.Objects, ignoreMessage); diff != "" {
			t.Errorf("objects (-want +got):\n%s", diff)
		}
		if e.exists(t, operator.Applications.Resource, "web") {
			t.Error("Application still exists")
		}
		if inv := e.inventory(t, key); inv != nil {
			t.Errorf("inventory still exists: %s", inv.Name)
		}
		for _, name := range []string{"foreign", "unowned"} {
			if !e.exists(t, "configmaps", name) {
				t.Errorf("%s, which pushd never owned, was deleted", name)
			}
		}
	})

	t.Run("destroying again is a no-op", func(t *testing.T) {
		res, err := e.engine.Destroy(ctx, apply.Request{Namespace: e.ns, Application: "web"})
		if err != nil || len(res.Objects) != 0 {
			t.Errorf("Destroy = %v, %v; want nothing to do", res, err)
		}
	})
}

func TestNamespaceNotManagedIsRefused(t *testing.T) {
	e := newEnv(t, false, apply.Options{})
	res, err := e.engine.Apply(context.Background(), apply.Request{Namespace: e.ns, Application: "web", Objects: load(t, "app.yaml", "configmap.yaml")})
	var nm *apply.NamespaceNotManagedError
	if !errors.As(err, &nm) || nm.Namespace != e.ns {
		t.Fatalf("err = %v, want NamespaceNotManagedError for %s", err, e.ns)
	}
	if res != nil {
		t.Errorf("result = %+v, want none", res)
	}
	cms, err := e.admin.CoreV1().ConfigMaps(e.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	apps, err := e.adminDyn.Resource(operator.Applications).Namespace(e.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cms.Items)+len(apps.Items) > 0 {
		t.Errorf("written in an unmanaged namespace: %d ConfigMaps, %d Applications", len(cms.Items), len(apps.Items))
	}
}

// get reads an object of the env's namespace as admin.
func (e *env) get(t *testing.T, resource, name string) *unstructured.Unstructured {
	t.Helper()
	u, err := e.resource(resource).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get %s/%s: %v", resource, name, err)
	}
	return u
}

func (e *env) exists(t *testing.T, resource, name string) bool {
	t.Helper()
	_, err := e.resource(resource).Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false
	}
	if err != nil {
		t.Fatalf("get %s/%s: %v", resource, name, err)
	}
	return true
}

func (e *env) resource(resource string) interface {
	Get(context.Context, string, metav1.GetOptions, ...string) (*unstructured.Unstructured, error)
} {
	gvr := corev1.SchemeGroupVersion.WithResource(resource)
	if resource == operator.Applications.Resource {
		gvr = operator.Applications
	}
	return e.adminDyn.Resource(gvr).Namespace(e.ns)
}

// inventory is the application's inventory ConfigMap, found the way later
// listings will find it: by pushd's labels. Nil when there is none.
func (e *env) inventory(t *testing.T, key inventory.Key) *corev1.ConfigMap {
	t.Helper()
	sel := inventory.Selector(key.Cluster).String() + "," + labels.Set{inventory.ApplicationLabel: inventory.ApplicationLabelValue(key.Application)}.String()
	list, err := e.admin.CoreV1().ConfigMaps(e.ns).List(context.Background(), metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		t.Fatal(err)
	}
	switch len(list.Items) {
	case 0:
		return nil
	case 1:
		return &list.Items[0]
	}
	t.Fatalf("%d inventories for %v", len(list.Items), key)
	return nil
}

func (e *env) createConfigMap(t *testing.T, name string, annotations map[string]string) *unstructured.Unstructured {
	t.Helper()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: annotations}, Data: map[string]string{"owner": "someone"}}
	if _, err := e.admin.CoreV1().ConfigMaps(e.ns).Create(context.Background(), cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return e.get(t, "configmaps", name)
}

func ready(u *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == "Ready" && m["status"] == "True" {
			return true
		}
	}
	return false
}

func managedBy(u *unstructured.Unstructured, manager string) bool {
	for _, m := range u.GetManagedFields() {
		if m.Manager == manager && m.Operation == metav1.ManagedFieldsOperationApply {
			return true
		}
	}
	return false
}

func find(res *apply.Result, name string) apply.ObjectResult {
	if res != nil {
		for _, o := range res.Objects {
			if o.Name == name {
				return o
			}
		}
	}
	return apply.ObjectResult{}
}

// unjoin splits an errors.Join result into its parts.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	if err == nil {
		return nil
	}
	return []error{err}
}
