package testbed_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	"github.com/vworkspace/pushd/internal/testbed"
	"github.com/vworkspace/pushd/internal/testbed/operator"
)

var bed *testbed.Bed

func TestMain(m *testing.M) {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	var err error
	bed, err = testbed.Start(ctx, testbed.Options{Clusters: 3, Logger: log, OperatorDelay: 300 * time.Millisecond})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "start test bed:", err)
		os.Exit(1)
	}
	code := m.Run()
	pids := bed.Pids()
	if err := bed.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop test bed:", err)
		code = 1
	}
	if left := alive(pids); len(left) > 0 {
		fmt.Fprintln(os.Stderr, "processes left behind:", left)
		code = 1
	}
	os.Exit(code)
}

// alive lists the process groups among pids that still have a member.
func alive(pids []int) []int {
	var left []int
	for _, pid := range pids {
		if err := syscall.Kill(-pid, 0); !errors.Is(err, syscall.ESRCH) {
			left = append(left, pid)
		}
	}
	return left
}

func namespace(t *testing.T, cs kubernetes.Interface, labels map[string]string) string {
	t.Helper()
	ns, err := cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "t-", Labels: labels},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

func clientset(t *testing.T, cfg *rest.Config) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func TestAdminServerSideApplyOverVerifiedTLS(t *testing.T) {
	ctx := context.Background()
	for _, c := range bed.Clusters {
		t.Run(c.Name, func(t *testing.T) {
			cfg := c.AdminConfig()
			if cfg.Insecure || len(cfg.CAData) == 0 {
				t.Fatal("admin config must verify TLS against the bed's CA")
			}
			cs := clientset(t, cfg)
			ns := namespace(t, cs, nil)
			cm := corev1ac.ConfigMap("greeting", ns).WithData(map[string]string{"hello": c.Name})
			got, err := cs.CoreV1().ConfigMaps(ns).Apply(ctx, cm, metav1.ApplyOptions{FieldManager: "testbed-test"})
			if err != nil {
				t.Fatal(err)
			}
			if got.Data["hello"] != c.Name {
				t.Fatalf("data = %v", got.Data)
			}
			if m := got.ManagedFields; len(m) != 1 || m[0].Manager != "testbed-test" || m[0].Operation != metav1.ManagedFieldsOperationApply {
				t.Fatalf("managedFields = %+v, want one Apply entry of testbed-test", m)
			}
		})
	}
	// A client that trusts another cluster's CA must be refused: each cluster has its own.
	wrong := bed.Clusters[0].AdminConfig()
	wrong.CAData = bed.Clusters[1].CAData
	if _, err := clientset(t, wrong).Discovery().ServerVersion(); err == nil {
		t.Fatal("a client trusting another cluster's CA connected; TLS is not verified")
	}
}

func TestServerVersionIsPinnedRelease(t *testing.T) {
	v, err := clientset(t, bed.Clusters[0].AdminConfig()).Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v.GitVersion != bed.Binaries.KubernetesVersion {
		t.Fatalf("server reports %q, want %q", v.GitVersion, bed.Binaries.KubernetesVersion)
	}
}

// TestScopedServiceAccountToken mints a TokenRequest token for a
// ServiceAccount bound by a Role in one namespace, and checks that it can
// write there and nowhere else.
func TestScopedServiceAccountToken(t *testing.T) {
	ctx := context.Background()
	c := bed.Clusters[1]
	admin := clientset(t, c.AdminConfig())
	allowed := namespace(t, admin, nil)
	other := namespace(t, admin, nil)

	if _, err := admin.CoreV1().ServiceAccounts(allowed).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "writer"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "writer"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "create", "patch", "update"}}},
	}
	if _, err := admin.RbacV1().Roles(allowed).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "writer"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "writer"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "writer", Namespace: allowed}},
	}
	if _, err := admin.RbacV1().RoleBindings(allowed).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	expiry := int64(600)
	tr, err := admin.CoreV1().ServiceAccounts(allowed).CreateToken(ctx, "writer", &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("TokenRequest: %v", err)
	}
	cfg := c.AdminConfig()
	cfg.BearerToken = tr.Status.Token
	sa := clientset(t, cfg)

	apply := func(ns string) error {
		cm := corev1ac.ConfigMap("scoped", ns).WithData(map[string]string{"k": "v"})
		_, err := sa.CoreV1().ConfigMaps(ns).Apply(ctx, cm, metav1.ApplyOptions{FieldManager: "pushd"})
		return err
	}
	if err := apply(allowed); err != nil {
		t.Fatalf("apply in the bound namespace: %v", err)
	}
	if err := apply(other); !apierrors.IsForbidden(err) {
		t.Fatalf("apply in another namespace: err = %v, want Forbidden", err)
	}
	if _, err := sa.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("cluster-wide list: err = %v, want Forbidden", err)
	}
	if _, err := sa.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "x-"}}, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("create namespace: err = %v, want Forbidden", err)
	}
}

// TestStandInOperator drives the three outcomes through kstatus, as pushd's
// applier will see them.
func TestStandInOperator(t *testing.T) {
	ctx := context.Background()
	c := bed.Clusters[2]
	ns := namespace(t, clientset(t, c.AdminConfig()), nil)
	dyn, err := dynamic.NewForConfig(c.AdminConfig())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		annotations map[string]string
		want        status.Status
		message     string // substring of the kstatus message; empty: not checked
	}{
		{name: "ready", want: status.CurrentStatus},
		{name: "failing", annotations: map[string]string{operator.OutcomeAnnotation: operator.OutcomeFail, operator.MessageAnnotation: "disk full"}, want: status.FailedStatus, message: "disk full"},
		{name: "hanging", annotations: map[string]string{operator.OutcomeAnnotation: operator.OutcomeHang}, want: status.InProgressStatus},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": operator.Group + "/" + operator.Version,
				"kind":       "Application",
				"metadata":   map[string]any{"name": tt.name, "namespace": ns},
				"spec":       map[string]any{"chart": "nextcloud"},
			}}
			app.SetAnnotations(tt.annotations)
			if _, err := dyn.Resource(operator.Applications).Namespace(ns).Create(ctx, app, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			var last *status.Result
			seenInProgress := false
			err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
				got, err := dyn.Resource(operator.Applications).Namespace(ns).Get(ctx, tt.name, metav1.GetOptions{})
				if err != nil {
					return false, err
				}
				if last, err = status.Compute(got); err != nil {
					return false, err
				}
				if last.Status == status.InProgressStatus {
					seenInProgress = true
				}
				// A CR without status is Current to kstatus before any
				// controller saw it; only a status for this generation counts.
				observed, _, _ := unstructured.NestedInt64(got.Object, "status", "observedGeneration")
				if observed != got.GetGeneration() {
					return false, nil
				}
				// "hanging" must still be InProgress well after the default delay.
				return last.Status == tt.want && (tt.want != status.InProgressStatus || time.Since(got.GetCreationTimestamp().Time) > 2*time.Second), nil
			})
			if err != nil {
				t.Fatalf("kstatus = %+v, want %s: %v", last, tt.want, err)
			}
			if tt.want != status.InProgressStatus && !seenInProgress {
				t.Error("never saw InProgress before the outcome: the operator must report Reconciling first")
			}
			if tt.message != "" && !strings.Contains(last.Message, tt.message) {
				t.Errorf("message = %q, want it to contain %q", last.Message, tt.message)
			}
		})
	}
}

// TestStopLeavesNoProcess starts a bed of its own, restarts its API server
// (as an outage test would), stops it and checks every process is gone.
func TestStopLeavesNoProcess(t *testing.T) {
	ctx := context.Background()
	own, err := testbed.Start(ctx, testbed.Options{Clusters: 1})
	if err != nil {
		t.Fatal(err)
	}
	c := own.Clusters[0]
	first := c.Pid()
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if left := alive([]int{first}); len(left) > 0 {
		t.Fatalf("stopped API server still running: %v", left)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if _, err := clientset(t, c.AdminConfig()).Discovery().ServerVersion(); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	pids := own.Pids()
	if len(pids) != 2 {
		t.Fatalf("Pids = %v, want etcd and one API server", pids)
	}
	if err := own.Stop(); err != nil {
		t.Fatal(err)
	}
	if left := alive(pids); len(left) > 0 {
		t.Fatalf("processes left behind: %v", left)
	}
	if _, err := os.Stat(own.Dir); !os.IsNotExist(err) {
		t.Fatalf("temporary folder %s not removed", own.Dir)
	}
}
