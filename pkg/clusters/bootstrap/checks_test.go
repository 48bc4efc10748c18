package bootstrap_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	rbacv1ac "k8s.io/client-go/applyconfigurations/rbac/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/clusters/bootstrap"
)

// bootstrapCheckConfined proves with real requests that the credential is
// refused everywhere outside its namespace's rules.
func bootstrapCheckConfined(t *testing.T, ctx context.Context, admin, scoped kubernetes.Interface, managed, unmanaged string) {
	t.Helper()
	if _, err := admin.CoreV1().ServiceAccounts("vworkspace-pushd").Apply(ctx, corev1ac.ServiceAccount("someone-else", "vworkspace-pushd"), metav1.ApplyOptions{FieldManager: "test"}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CoreV1().ServiceAccounts(managed).Apply(ctx, corev1ac.ServiceAccount("app", managed), metav1.ApplyOptions{FieldManager: "test"}); err != nil {
		t.Fatal(err)
	}
	role := rbacv1ac.Role("escalate", managed).WithRules(rbacv1ac.PolicyRule().WithAPIGroups("*").WithResources("*").WithVerbs("*"))
	binding := rbacv1ac.RoleBinding("escalate", managed).
		WithRoleRef(rbacv1ac.RoleRef().WithAPIGroup(rbacv1.GroupName).WithKind("ClusterRole").WithName("cluster-admin")).
		WithSubjects(rbacv1ac.Subject().WithKind("ServiceAccount").WithNamespace("vworkspace-pushd").WithName("pushd"))
	apply := metav1.ApplyOptions{FieldManager: "pushd"}
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"apply ConfigMap in the unlabeled namespace", func() error { return bootstrapApplyConfigMap(ctx, scoped, unmanaged) }},
		{"apply ConfigMap in kube-system", func() error { return bootstrapApplyConfigMap(ctx, scoped, "kube-system") }},
		{"apply ConfigMap in its own ServiceAccount's namespace", func() error { return bootstrapApplyConfigMap(ctx, scoped, "vworkspace-pushd") }},
		{"list Secrets in kube-system", func() error {
			_, err := scoped.CoreV1().Secrets("kube-system").List(ctx, metav1.ListOptions{})
			return err
		}},
		{"create a Namespace", func() error {
			_, err := scoped.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "evil-"}}, metav1.CreateOptions{})
			return err
		}},
		{"label a Namespace managed", func() error {
			_, err := scoped.CoreV1().Namespaces().Apply(ctx, corev1ac.Namespace(unmanaged).WithLabels(map[string]string{clusters.ManagedNamespaceLabel: clusters.ManagedNamespaceValue}), apply)
			return err
		}},
		{"create a ClusterRole", func() error {
			_, err := scoped.RbacV1().ClusterRoles().Apply(ctx, rbacv1ac.ClusterRole("evil"), apply)
			return err
		}},
		{"apply a Role in the labeled namespace", func() error {
			_, err := scoped.RbacV1().Roles(managed).Apply(ctx, role, apply)
			return err
		}},
		{"apply a RoleBinding in the labeled namespace", func() error {
			_, err := scoped.RbacV1().RoleBindings(managed).Apply(ctx, binding, apply)
			return err
		}},
		{"list its own Roles", func() error {
			_, err := scoped.RbacV1().Roles(managed).List(ctx, metav1.ListOptions{})
			return err
		}},
		{"list Namespaces", func() error {
			_, err := scoped.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
			return err
		}},
		{"get the unlabeled Namespace", func() error {
			_, err := scoped.CoreV1().Namespaces().Get(ctx, unmanaged, metav1.GetOptions{})
			return err
		}},
		{"get kube-system", func() error {
			_, err := scoped.CoreV1().Namespaces().Get(ctx, "kube-system", metav1.GetOptions{})
			return err
		}},
		{"request a token for another ServiceAccount beside its own", func() error {
			_, err := scoped.CoreV1().ServiceAccounts("vworkspace-pushd").CreateToken(ctx, "someone-else", bootstrapTokenRequest(), metav1.CreateOptions{})
			return err
		}},
		{"request a token for a ServiceAccount in the labeled namespace", func() error {
			_, err := scoped.CoreV1().ServiceAccounts(managed).CreateToken(ctx, "app", bootstrapTokenRequest(), metav1.CreateOptions{})
			return err
		}},
		{"create a ServiceAccount in the labeled namespace", func() error {
			_, err := scoped.CoreV1().ServiceAccounts(managed).Apply(ctx, corev1ac.ServiceAccount("mine", managed), apply)
			return err
		}},
	} {
		if err := bootstrapForbidden(tc.call()); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// bootstrapCheckRBAC inspects every RBAC object labeled with the cluster id:
// exactly the expected ones, with exactly the expected rules, and nothing a
// least-privilege credential must never have.
func bootstrapCheckRBAC(t *testing.T, ctx context.Context, admin kubernetes.Interface, id string, granted []string) {
	t.Helper()
	sel := metav1.ListOptions{LabelSelector: bootstrapClusterIDLabel + "=" + id}
	roles, err := admin.RbacV1().Roles("").List(ctx, sel)
	if err != nil {
		t.Fatal(err)
	}
	bindings, err := admin.RbacV1().RoleBindings("").List(ctx, sel)
	if err != nil {
		t.Fatal(err)
	}
	croles, err := admin.RbacV1().ClusterRoles().List(ctx, sel)
	if err != nil {
		t.Fatal(err)
	}
	cbindings, err := admin.RbacV1().ClusterRoleBindings().List(ctx, sel)
	if err != nil {
		t.Fatal(err)
	}

	gotRules := map[string][]rbacv1.PolicyRule{}
	var all []rbacv1.PolicyRule
	for _, r := range roles.Items {
		gotRules["Role "+r.Namespace+"/"+r.Name] = r.Rules
		all = append(all, r.Rules...)
	}
	for _, r := range croles.Items {
		gotRules["ClusterRole "+r.Name] = r.Rules
		all = append(all, r.Rules...)
	}
	wantRules := map[string][]rbacv1.PolicyRule{
		"ClusterRole pushd-" + id + "-namespaces":      nil,
		"Role vworkspace-pushd/pushd-" + id + "-token": {{APIGroups: []string{""}, Resources: []string{"serviceaccounts/token"}, ResourceNames: []string{"pushd-" + id}, Verbs: []string{"create"}}},
	}
	if len(granted) > 0 {
		wantRules["ClusterRole pushd-"+id+"-namespaces"] = []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"namespaces"}, ResourceNames: granted, Verbs: []string{"get"}}}
	}
	for _, ns := range granted {
		wantRules["Role "+ns+"/pushd-"+id] = clusters.NamespaceRules()
	}
	if diff := cmp.Diff(wantRules, gotRules); diff != "" {
		t.Errorf("RBAC rules (-want +got):\n%s", diff)
	}

	for _, r := range all {
		for _, field := range [][]string{r.APIGroups, r.Resources, r.ResourceNames, r.Verbs} {
			if slices.Contains(field, "*") {
				t.Errorf("rule %+v has a wildcard", r)
			}
		}
		for _, v := range []string{"escalate", "bind", "impersonate"} {
			if slices.Contains(r.Verbs, v) {
				t.Errorf("rule %+v grants %s", r, v)
			}
		}
		if slices.Contains(r.APIGroups, rbacv1.GroupName) {
			t.Errorf("rule %+v grants rights on RBAC objects", r)
		}
		if len(r.NonResourceURLs) > 0 {
			t.Errorf("rule %+v grants non-resource URLs", r)
		}
	}

	want := rbacv1.Subject{Kind: "ServiceAccount", Namespace: "vworkspace-pushd", Name: "pushd-" + id}
	gotBindings := map[string]rbacv1.RoleRef{}
	for _, b := range bindings.Items {
		gotBindings["RoleBinding "+b.Namespace+"/"+b.Name] = b.RoleRef
		if diff := cmp.Diff([]rbacv1.Subject{want}, b.Subjects); diff != "" {
			t.Errorf("RoleBinding %s/%s subjects (-want +got):\n%s", b.Namespace, b.Name, diff)
		}
	}
	for _, b := range cbindings.Items {
		gotBindings["ClusterRoleBinding "+b.Name] = b.RoleRef
		if diff := cmp.Diff([]rbacv1.Subject{want}, b.Subjects); diff != "" {
			t.Errorf("ClusterRoleBinding %s subjects (-want +got):\n%s", b.Name, diff)
		}
	}
	wantBindings := map[string]rbacv1.RoleRef{
		"ClusterRoleBinding pushd-" + id + "-namespaces":      {APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "pushd-" + id + "-namespaces"},
		"RoleBinding vworkspace-pushd/pushd-" + id + "-token": {APIGroup: rbacv1.GroupName, Kind: "Role", Name: "pushd-" + id + "-token"},
	}
	for _, ns := range granted {
		wantBindings["RoleBinding "+ns+"/pushd-"+id] = rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "pushd-" + id}
	}
	if diff := cmp.Diff(wantBindings, gotBindings); diff != "" {
		t.Errorf("RBAC bindings (-want +got):\n%s", diff)
	}
}

// bootstrapRBACVersions are the resourceVersions of the cluster's RBAC objects.
func bootstrapRBACVersions(t *testing.T, ctx context.Context, admin kubernetes.Interface, id string) map[string]string {
	t.Helper()
	sel := metav1.ListOptions{LabelSelector: bootstrapClusterIDLabel + "=" + id}
	out := map[string]string{}
	roles, err := admin.RbacV1().Roles("").List(ctx, sel)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range roles.Items {
		out["Role "+o.Namespace+"/"+o.Name] = o.ResourceVersion
	}
	bindings, err := admin.RbacV1().RoleBindings("").List(ctx, sel)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range bindings.Items {
		out["RoleBinding "+o.Namespace+"/"+o.Name] = o.ResourceVersion
	}
	croles, err := admin.RbacV1().ClusterRoles().List(ctx, sel)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range croles.Items {
		out["ClusterRole "+o.Name] = o.ResourceVersion
	}
	return out
}

func bootstrapCheckSkipped(t *testing.T, got []bootstrap.SkippedNamespace, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("Skipped %v, want %d namespaces", got, len(want))
	}
	for _, s := range got {
		if w, ok := want[s.Name]; !ok || !strings.Contains(s.Reason, w) {
			t.Errorf("Skipped %q with reason %q, want a reason containing %q", s.Name, s.Reason, w)
		}
	}
	if !slices.IsSortedFunc(got, func(a, b bootstrap.SkippedNamespace) int { return strings.Compare(a.Name, b.Name) }) {
		t.Errorf("Skipped %v is not sorted", got)
	}
}

func bootstrapClients(t *testing.T, id string, cred *clusters.Credential) kubernetes.Interface {
	t.Helper()
	cl, err := clusters.NewClients(id, cred.RESTConfig(), clusters.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl.Kube
}

func bootstrapApplyConfigMap(ctx context.Context, kube kubernetes.Interface, ns string) error {
	cm := corev1ac.ConfigMap("pushd-probe", ns).WithData(map[string]string{"written": time.Now().String()})
	_, err := kube.CoreV1().ConfigMaps(ns).Apply(ctx, cm, metav1.ApplyOptions{FieldManager: "pushd"})
	return err
}

func bootstrapTokenRequest() *authenticationv1.TokenRequest {
	secs := int64(600)
	return &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &secs}}
}

// bootstrapForbidden is nil for a 403 and says what happened otherwise.
func bootstrapForbidden(err error) error {
	if apierrors.IsForbidden(err) {
		return nil
	}
	if err == nil {
		return errors.New("allowed, want Forbidden")
	}
	return fmt.Errorf("want Forbidden, got %w", err)
}

// bootstrapEventually retries cond until it returns nil: RBAC changes reach
// the API server's authorizer through an informer, a moment after the write.
func bootstrapEventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// bootstrapCheckNoSecret fails when text holds any of the secrets, or the
// signature of a JWT among them (a truncated token leaks it just as well).
func bootstrapCheckNoSecret(t *testing.T, text, what string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s == "" {
			t.Fatalf("%s canary: empty secret", what)
		}
		parts := []string{s}
		if p := strings.Split(s, "."); len(p) == 3 {
			parts = append(parts, p[1], p[2])
		}
		for _, p := range parts {
			if strings.Contains(text, p) {
				t.Errorf("%s contains a secret: %s", what, text)
			}
		}
	}
}

// bootstrapLogBuffer captures a logger's output at debug level.
type bootstrapLogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *bootstrapLogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *bootstrapLogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *bootstrapLogBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
