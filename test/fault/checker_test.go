package fault

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/internal/testbed"
)

// The checker reads the clusters for real: after two jobs of one
// application (the second drops an object), someone changes an object of
// the latest intent, deletes another and re-creates the pruned one; the
// checker names all three.
func TestCheckerSeesObjectsThatDisagree(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := suite.Bed.Clusters[0]
	r := newRun(t, dbtest.Database{Driver: "sqlite", DSN: filepath.Join(t.TempDir(), "pushd.db")}, []*testbed.Cluster{c})
	r.submit(ctx, jobSpec{id: "first", cluster: "fault-1", app: "app-0", extra: true, delay: 100 * time.Millisecond})
	r.submit(ctx, jobSpec{id: "latest", cluster: "fault-1", app: "app-0", delay: 100 * time.Millisecond})
	for id, st := range r.waitTerminal(ctx) {
		if st != "succeeded" {
			t.Fatalf("job %s %s", id, st)
		}
	}
	r.drain(ctx)
	if rep := r.report(ctx); rep.Err() != nil || rep.Objects != 2 || rep.Pruned != 1 {
		t.Fatalf("before the changes: %d objects, %d pruned, problems %v; want 2, 1, none", rep.Objects, rep.Pruned, rep.Err())
	}

	kube, err := kubernetes.NewForConfig(c.AdminConfig())
	if err != nil {
		t.Fatal(err)
	}
	cms := kube.CoreV1().ConfigMaps(r.ns)
	cfg, err := cms.Get(ctx, "app-0-cfg", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Data["job"] = "first"
	if _, err := cms.Update(ctx, cfg, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "app-0-extra"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(c.AdminConfig())
	if err != nil {
		t.Fatal(err)
	}
	apps := schema.GroupVersionResource{Group: "vworkspace.io", Version: "v1alpha1", Resource: "applications"}
	if err := dyn.Resource(apps).Namespace(r.ns).Delete(ctx, "app-0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	rep := r.report(ctx)
	got := ""
	if rep.Err() != nil {
		got = rep.Err().Error()
	}
	for _, want := range []string{
		"ConfigMap/" + r.ns + "/app-0-cfg differs from job default/latest (the latest succeeded intent) at .data.job",
		"ConfigMap/" + r.ns + "/app-0-extra is live, but job default/latest (the latest succeeded intent) does not name it: not pruned",
		"Application.vworkspace.io/" + r.ns + "/app-0 of job default/latest (the latest succeeded intent) is missing",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("problems:\n%s\nwant one saying %q", got, want)
		}
	}
}
