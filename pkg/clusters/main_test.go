package clusters_test

import (
	"context"
	"log/slog"
	"os"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/vworkspace/pushd/internal/fleettest"
	"github.com/vworkspace/pushd/internal/testbed"
)

// bed is shared by the package's tests; each test makes its own namespaces.
// bed starts when a test first asks for its clusters.
var bed = fleettest.LazyBed(testbed.Options{Clusters: 3, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})

func TestMain(m *testing.M) {
	fleettest.Main(m, bed)
}

// adminClient is a cluster-admin clientset for test setup.
func adminClient(t *testing.T, c *testbed.Cluster) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(c.AdminConfig())
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// makeNamespace creates a namespace with a generated name; managed adds the
// managed-by=vworkspace label.
func makeNamespace(t *testing.T, c *testbed.Cluster, managed bool) string {
	t.Helper()
	labels := map[string]string{}
	if managed {
		labels["managed-by"] = "vworkspace"
	}
	ns, err := adminClient(t, c).CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "t-", Labels: labels},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ns.Name
}
