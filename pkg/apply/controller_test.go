package apply_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensions "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/vworkspace/pushd/internal/testbed/operator"
	"github.com/vworkspace/pushd/pkg/apply"
)

// widgetGroup is an API group no controller serves in the test bed: a
// Widget stays exactly as applied, with no status.
const widgetGroup = "nocontroller.pushd.test"

// TestControllerGroupsWaitForObservedGeneration shows kstatus' quirk with
// custom resources and that the engine does not fall for it.
func TestControllerGroupsWaitForObservedGeneration(t *testing.T) {
	installWidgetCRD(t)
	widgets := rbacv1.PolicyRule{APIGroups: []string{widgetGroup}, Resources: []string{"widgets"}, Verbs: []string{"get", "list", "watch", "create", "patch", "update", "delete"}}
	rules := append([]rbacv1.PolicyRule{widgets}, scopedRole...)
	widget := func() []*unstructured.Unstructured {
		return []*unstructured.Unstructured{{Object: map[string]any{
			"apiVersion": widgetGroup + "/v1", "kind": "Widget",
			"metadata": map[string]any{"name": "w"},
			"spec":     map[string]any{"size": int64(3)},
		}}}
	}

	t.Run("plain kstatus calls a fresh custom resource Current", func(t *testing.T) {
		e := newEnvWithRules(t, true, rules, apply.Options{ControllerGroups: []string{}})
		res, err := e.engine.Apply(context.Background(), apply.Request{Namespace: e.ns, Application: "w", Objects: widget(), Timeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if got := res.Objects[0]; got.Status != "Current" {
			t.Errorf("widget = %+v, want Current", got)
		}
	})

	t.Run("in a controller group it waits for the controller", func(t *testing.T) {
		var seen []string
		e := newEnvWithRules(t, true, rules, apply.Options{
			ControllerGroups: []string{widgetGroup},
			OnEvent:          func(r apply.ObjectResult) { seen = append(seen, r.Action+"/"+r.Status) },
		})
		_, err := e.engine.Apply(context.Background(), apply.Request{Namespace: e.ns, Application: "w", Objects: widget(), Timeout: 2 * time.Second})
		var timeout *apply.TimeoutError
		if !errors.As(err, &timeout) || len(timeout.Objects) != 1 {
			t.Fatalf("err = %v, want a TimeoutError for the widget", err)
		}
		if got := timeout.Objects[0]; got.Status != "InProgress" || !strings.Contains(got.Message, "observe generation 1") {
			t.Errorf("widget = %+v, want InProgress waiting for generation 1", got)
		}
		// OnEvent saw the progress as it happened.
		if len(seen) == 0 || seen[len(seen)-1] != "created/InProgress" {
			t.Errorf("OnEvent saw %v, want it to end with created/InProgress", seen)
		}

		// Once a controller reports this generation, the same apply succeeds.
		live, err := e.adminDyn.Resource(widgetGVR).Namespace(e.ns).Get(context.Background(), "w", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		live.Object["status"] = map[string]any{"observedGeneration": live.GetGeneration()}
		if _, err := e.adminDyn.Resource(widgetGVR).Namespace(e.ns).UpdateStatus(context.Background(), live, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		res, err := e.engine.Apply(context.Background(), apply.Request{Namespace: e.ns, Application: "w", Objects: widget(), Timeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"unchanged/Current"}
		if diff := cmp.Diff(want, []string{res.Objects[0].Action + "/" + res.Objects[0].Status}); diff != "" {
			t.Errorf("widget (-want +got):\n%s", diff)
		}
	})
}

var widgetGVR = schema.GroupVersionResource{Group: widgetGroup, Version: "v1", Resource: "widgets"}

// installWidgetCRD installs the Widget CRD (cluster-wide, once per bed).
func installWidgetCRD(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	cs, err := apiextensions.NewForConfig(bed.Clusters[0].AdminConfig())
	if err != nil {
		t.Fatal(err)
	}
	preserve := true
	crd := &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "widgets." + widgetGroup},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: widgetGroup,
			Names: apiextensionsv1.CustomResourceDefinitionNames{Kind: "Widget", ListKind: "WidgetList", Plural: "widgets", Singular: "widget"},
			Scope: apiextensionsv1.NamespaceScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: "v1", Served: true, Storage: true,
				Subresources: &apiextensionsv1.CustomResourceSubresources{Status: &apiextensionsv1.CustomResourceSubresourceStatus{}},
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object",
					Properties: map[string]apiextensionsv1.JSONSchemaProps{
						"spec":   {Type: "object", XPreserveUnknownFields: &preserve},
						"status": {Type: "object", XPreserveUnknownFields: &preserve},
					},
				}},
			}},
		},
	}
	if _, err := cs.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, crd, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	if err := operator.WaitEstablished(ctx, cs, crd.Name); err != nil {
		t.Fatal(err)
	}
}
