package apply_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/vworkspace/pushd/internal/testbed"
	"github.com/vworkspace/pushd/pkg/apply"
	"github.com/vworkspace/pushd/pkg/clusters"
)

// bed is one test cluster shared by the package's tests; each test works in
// namespaces of its own.
var bed *testbed.Bed

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	var err error
	bed, err = testbed.Start(ctx, testbed.Options{
		Clusters:      1,
		OperatorDelay: 300 * time.Millisecond,
		Logger:        slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "start test bed:", err)
		os.Exit(1)
	}
	code := m.Run()
	if err := bed.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop test bed:", err)
		code = 1
	}
	os.Exit(code)
}

// clusterID is the id the tests give the bed's cluster.
const clusterID = "testbed-1"

// env is one test's namespace and an engine that reaches it with a scoped
// ServiceAccount token, plus admin clients to set up and inspect.
type env struct {
	ns       string
	admin    kubernetes.Interface
	adminDyn dynamic.Interface
	engine   *apply.Engine
	// requests records every request the engine sent.
	requests *requestLog
}

// requestLog records the requests that pass its transport.
type requestLog struct {
	mu   sync.Mutex
	seen []string // "METHOD path?query"
}

func (l *requestLog) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		l.mu.Lock()
		l.seen = append(l.seen, req.Method+" "+req.URL.RequestURI())
		l.mu.Unlock()
		return rt.RoundTrip(req)
	})
}

// take returns the requests recorded since the last take.
func (l *requestLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.seen
	l.seen = nil
	return out
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// newEnv makes a namespace (labeled managed-by=vworkspace when managed), a
// ServiceAccount bound there by scopedRole only, and an engine built on
// that account's TokenRequest token: every test runs with exactly the
// rights pushd will have in production, nothing cluster-wide.
func newEnv(t *testing.T, managed bool, opts apply.Options) *env {
	t.Helper()
	return newEnvWithRules(t, managed, scopedRole, opts)
}

// newEnvWithRules is newEnv with the Role's rules given.
func newEnvWithRules(t *testing.T, managed bool, rules []rbacv1.PolicyRule, opts apply.Options) *env {
	t.Helper()
	c := bed.Clusters[0]
	admin, err := kubernetes.NewForConfig(c.AdminConfig())
	if err != nil {
		t.Fatal(err)
	}
	adminDyn, err := dynamic.NewForConfig(c.AdminConfig())
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{}
	if managed {
		labels[clusters.ManagedNamespaceLabel] = clusters.ManagedNamespaceValue
	}
	ctx := context.Background()
	ns, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "apply-", Labels: labels},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	log := &requestLog{}
	cfg := &rest.Config{Host: c.Host, BearerToken: scopedToken(t, admin, ns.Name, rules), TLSClientConfig: rest.TLSClientConfig{CAData: c.CAData},
		WrapTransport: log.wrap}
	cl, err := clusters.NewClients(clusterID, cfg, clusters.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	eng, err := apply.New(cl, opts)
	if err != nil {
		t.Fatal(err)
	}
	return &env{ns: ns.Name, admin: admin, adminDyn: adminDyn, engine: eng, requests: log}
}

// scopedRole is what docs/architecture.md lists for the applier in a
// namespace, for the kinds the tests apply, plus get on the namespace itself:
// the engine reads its managed-by label before every run (a Role in a
// namespace may grant get on that one Namespace object).
var scopedRole = []rbacv1.PolicyRule{
	{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "watch", "create", "patch", "update", "delete"}},
	{APIGroups: []string{"vworkspace.io"}, Resources: []string{"applications", "operations"}, Verbs: []string{"get", "list", "watch", "create", "patch", "update", "delete"}},
	{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get"}},
}

func scopedToken(t *testing.T, admin kubernetes.Interface, ns string, rules []rbacv1.PolicyRule) string {
	t.Helper()
	ctx := context.Background()
	if _, err := admin.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "pushd"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "pushd"}, Rules: rules}
	if _, err := admin.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "pushd"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "pushd"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "pushd", Namespace: ns}},
	}
	if _, err := admin.RbacV1().RoleBindings(ns).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	expiry := int64(3600)
	tr, err := admin.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "pushd", &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tr.Status.Token
}

// load reads the YAML documents of testdata files.
func load(t *testing.T, files ...string) []*unstructured.Unstructured {
	t.Helper()
	var objs []*unstructured.Unstructured
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			var m map[string]any
			if err := dec.Decode(&m); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if m != nil {
				objs = append(objs, &unstructured.Unstructured{Object: m})
			}
		}
	}
	return objs
}
