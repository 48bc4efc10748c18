package bootstrap_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/vworkspace/pushd/internal/fleettest"
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/clusters/bootstrap"
)

const bootstrapClusterIDLabel = "app.vworkspace.io/cluster-id"

// TestBootstrap is the acceptance story: bootstrap grants exactly the labeled
// namespace, the minted credential can do its job there and nothing else, the
// RBAC it made is auditable least privilege, a re-run changes nothing, and a
// re-run after the label is removed takes the grant back.
func TestBootstrap(t *testing.T) {
	ctx := t.Context()
	c := bed.Clusters()[0]
	admin := fleettest.AdminClient(t, c)
	managed, unmanaged := fleettest.Namespace(t, c, true), fleettest.Namespace(t, c, false)
	missing := "t-missing-" + managed[2:]
	// Labeled but being deleted: the bed runs no namespace controller, so it
	// stays Terminating.
	terminating := fleettest.Namespace(t, c, true)
	if err := admin.CoreV1().Namespaces().Delete(ctx, terminating, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	id := "boot-" + managed[2:]
	logs := &bootstrapLogBuffer{}
	opts := bootstrap.Options{ClusterID: id, Namespaces: []string{unmanaged, managed, missing, terminating, managed}, Logger: logs.logger()}
	start := time.Now()

	res, err := bootstrap.Run(ctx, c.AdminConfig(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{managed}, res.Granted); diff != "" {
		t.Errorf("Granted (-want +got):\n%s", diff)
	}
	wantSkipped := map[string]string{missing: "not found", unmanaged: "not labeled managed-by=vworkspace", terminating: "being deleted"}
	bootstrapCheckSkipped(t, res.Skipped, wantSkipped)

	t.Run("credential", func(t *testing.T) {
		cred := res.Credential
		if cred.Server != c.Host || !bytes.Equal(cred.CAData, c.CAData) || cred.Token == "" || cred.CertData != nil {
			t.Fatalf("credential %v: want server %s, the bed's CA and a token only", cred, c.Host)
		}
		claims, ok := cred.Claims()
		if !ok {
			t.Fatal("the minted token is not a JWT")
		}
		if want := "system:serviceaccount:vworkspace-pushd:pushd-" + id; claims.Subject != want {
			t.Errorf("subject %q, want %q", claims.Subject, want)
		}
		if !claims.Expiry.Equal(res.Expiry) {
			t.Errorf("token expiry %s, result says %s", claims.Expiry, res.Expiry)
		}
		if lifetime := claims.Expiry.Sub(claims.IssuedAt); lifetime != 24*time.Hour {
			t.Errorf("token lifetime %s, want the default 24h", lifetime)
		}
		if res.Expiry.Before(start.Add(24*time.Hour-time.Minute)) || res.Expiry.After(time.Now().Add(24*time.Hour+time.Minute)) {
			t.Errorf("expiry %s is not 24h from now", res.Expiry)
		}
		sa, err := admin.CoreV1().ServiceAccounts("vworkspace-pushd").Get(ctx, "pushd-"+id, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if sa.Labels[bootstrapClusterIDLabel] != id {
			t.Errorf("ServiceAccount labels %v, want %s=%s", sa.Labels, bootstrapClusterIDLabel, id)
		}
	})

	scoped := bootstrapClients(t, id, res.Credential)
	t.Run("can apply in the labeled namespace", func(t *testing.T) {
		bootstrapEventually(t, "apply ConfigMap in "+managed, func() error { return bootstrapApplyConfigMap(ctx, scoped, managed) })
		if _, err := scoped.CoreV1().Namespaces().Get(ctx, managed, metav1.GetOptions{}); err != nil {
			t.Errorf("get its own Namespace object: %v", err)
		}
		if _, err := scoped.CoreV1().ServiceAccounts("vworkspace-pushd").CreateToken(ctx, "pushd-"+id, bootstrapTokenRequest(), metav1.CreateOptions{}); err != nil {
			t.Errorf("request a token for itself: %v", err)
		}
	})
	t.Run("can do nothing else", func(t *testing.T) {
		bootstrapCheckConfined(t, ctx, admin, scoped, managed, unmanaged)
	})
	t.Run("RBAC is least privilege", func(t *testing.T) {
		bootstrapCheckRBAC(t, ctx, admin, id, []string{managed})
	})

	t.Run("re-run changes nothing", func(t *testing.T) {
		before := bootstrapRBACVersions(t, ctx, admin, id)
		again, err := bootstrap.Run(ctx, c.AdminConfig(), opts)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(res.Granted, again.Granted); diff != "" {
			t.Errorf("Granted (-first +again):\n%s", diff)
		}
		if diff := cmp.Diff(before, bootstrapRBACVersions(t, ctx, admin, id)); diff != "" {
			t.Errorf("a re-run rewrote RBAC objects (-before +after):\n%s", diff)
		}
	})

	t.Run("re-run after unlabeling takes the grant back", func(t *testing.T) {
		ns, err := admin.CoreV1().Namespaces().Get(ctx, managed, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		delete(ns.Labels, clusters.ManagedNamespaceLabel)
		if _, err := admin.CoreV1().Namespaces().Update(ctx, ns, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		again, err := bootstrap.Run(ctx, c.AdminConfig(), opts)
		if err != nil {
			t.Fatal(err)
		}
		if len(again.Granted) != 0 {
			t.Errorf("Granted %v, want none", again.Granted)
		}
		wantSkipped[managed] = "not labeled managed-by=vworkspace"
		bootstrapCheckSkipped(t, again.Skipped, wantSkipped)
		bootstrapCheckRBAC(t, ctx, admin, id, nil)
		// The first credential is still a valid token of the same
		// ServiceAccount: what it could do is gone.
		bootstrapEventually(t, "apply ConfigMap in the unlabeled "+managed, func() error {
			return bootstrapForbidden(bootstrapApplyConfigMap(ctx, scoped, managed))
		})
		bootstrapEventually(t, "get Namespace "+managed, func() error {
			_, err := scoped.CoreV1().Namespaces().Get(ctx, managed, metav1.GetOptions{})
			return bootstrapForbidden(err)
		})
		if _, err := scoped.CoreV1().ServiceAccounts("vworkspace-pushd").CreateToken(ctx, "pushd-"+id, bootstrapTokenRequest(), metav1.CreateOptions{}); err != nil {
			t.Errorf("it can still renew its own token: %v", err)
		}
	})

	bootstrapCheckNoSecret(t, logs.String(), "log", res.Credential.Token, c.AdminToken)
}

// TestBootstrapMovesIdentity: changing the ServiceAccount removes the old one
// (and with it its tokens) and its token grant.
func TestBootstrapMovesIdentity(t *testing.T) {
	ctx := t.Context()
	c := bed.Clusters()[0]
	admin := fleettest.AdminClient(t, c)
	managed := fleettest.Namespace(t, c, true)
	id := "move-" + managed[2:]
	first, err := bootstrap.Run(ctx, c.AdminConfig(), bootstrap.Options{ClusterID: id, Namespaces: []string{managed}, ServiceAccountNamespace: managed, ServiceAccountName: "first"})
	if err != nil {
		t.Fatal(err)
	}
	old := bootstrapClients(t, id, first.Credential)
	bootstrapEventually(t, "first identity applies", func() error { return bootstrapApplyConfigMap(ctx, old, managed) })

	if _, err := bootstrap.Run(ctx, c.AdminConfig(), bootstrap.Options{ClusterID: id, Namespaces: []string{managed}, ServiceAccountName: "second-" + id}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CoreV1().ServiceAccounts(managed).Get(ctx, "first", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the first ServiceAccount is still there (err %v)", err)
	}
	roles, err := admin.RbacV1().Roles(managed).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range roles.Items {
		if strings.HasSuffix(r.Name, "-token") {
			t.Errorf("the first identity's token Role %s is still there", r.Name)
		}
	}
	// The API server caches a token's authentication for 10s.
	bootstrapEventually(t, "the first identity's token is revoked", func() error {
		err := bootstrapApplyConfigMap(ctx, old, managed)
		if apierrors.IsUnauthorized(err) {
			return nil
		}
		return fmt.Errorf("want Unauthorized, got %v", err)
	})
}

// TestBootstrapRefusesBadInput: bad options and admin configs that do not
// verify TLS are refused before anything is written.
func TestBootstrapRefusesBadInput(t *testing.T) {
	c := bed.Clusters()[0]
	insecure := c.AdminConfig()
	insecure.Insecure, insecure.CAData = true, nil
	plainHTTP := c.AdminConfig()
	plainHTTP.Host = "http://" + strings.TrimPrefix(c.Host, "https://")
	for _, tc := range []struct {
		name  string
		admin *rest.Config // nil: the bed's admin config
		opts  bootstrap.Options
		want  string // in the error
	}{
		{name: "cluster id", opts: bootstrap.Options{ClusterID: "Not_A_Label"}, want: `cluster "Not_A_Label": bootstrap: cluster id`},
		{name: "namespace", opts: bootstrap.Options{ClusterID: "refused", Namespaces: []string{"ok", "../etc"}}, want: `namespace "../etc"`},
		{name: "short TTL", opts: bootstrap.Options{ClusterID: "refused", TokenTTL: time.Minute}, want: "minimum is 10m0s"},
		{name: "service account", opts: bootstrap.Options{ClusterID: "refused", ServiceAccountName: "A B"}, want: "ServiceAccount name"},
		{name: "insecure", admin: insecure, opts: bootstrap.Options{ClusterID: "refused"}, want: `cluster "refused": bootstrap: the admin config skips TLS verification`},
		{name: "plain http", admin: plainHTTP, opts: bootstrap.Options{ClusterID: "refused"}, want: "must be an https:// URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			admin := tc.admin
			if admin == nil {
				admin = c.AdminConfig()
			}
			_, err := bootstrap.Run(t.Context(), admin, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
			bootstrapCheckNoSecret(t, err.Error(), "error", c.AdminToken)
		})
	}
	sel := metav1.ListOptions{LabelSelector: bootstrapClusterIDLabel + "=refused"}
	if sas, err := fleettest.AdminClient(t, c).CoreV1().ServiceAccounts("").List(t.Context(), sel); err != nil || len(sas.Items) > 0 {
		t.Errorf("refused runs wrote ServiceAccounts %v (err %v)", sas, err)
	}
}

// TestBootstrapOneIdentityPerRecord: two records on one physical cluster —
// two organizations' tenants, each with its own namespace — get two
// ServiceAccounts, and neither credential can write in the other's
// namespace. A record told to use the other's ServiceAccount is refused
// before anything is written, and so is one told to use a ServiceAccount
// pushd did not make.
func TestBootstrapOneIdentityPerRecord(t *testing.T) {
	ctx := t.Context()
	c := bed.Clusters()[0]
	admin := fleettest.AdminClient(t, c)
	nsA, nsB := fleettest.Namespace(t, c, true), fleettest.Namespace(t, c, true)
	idA, idB := "tenant-a-"+nsA[2:], "tenant-b-"+nsB[2:]
	a, err := bootstrap.Run(ctx, c.AdminConfig(), bootstrap.Options{ClusterID: idA, Namespaces: []string{nsA}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := bootstrap.Run(ctx, c.AdminConfig(), bootstrap.Options{ClusterID: idB, Namespaces: []string{nsB}})
	if err != nil {
		t.Fatal(err)
	}
	subA, _ := a.Credential.Claims()
	subB, _ := b.Credential.Claims()
	if subA.Subject == subB.Subject {
		t.Fatalf("both records share the identity %s", subA.Subject)
	}
	scopedA, scopedB := bootstrapClients(t, idA, a.Credential), bootstrapClients(t, idB, b.Credential)
	bootstrapEventually(t, "A applies in its namespace", func() error { return bootstrapApplyConfigMap(ctx, scopedA, nsA) })
	bootstrapEventually(t, "B applies in its namespace", func() error { return bootstrapApplyConfigMap(ctx, scopedB, nsB) })
	if err := bootstrapForbidden(bootstrapApplyConfigMap(ctx, scopedA, nsB)); err != nil {
		t.Errorf("A's credential in B's namespace: %v", err)
	}
	if err := bootstrapForbidden(bootstrapApplyConfigMap(ctx, scopedB, nsA)); err != nil {
		t.Errorf("B's credential in A's namespace: %v", err)
	}

	// B's record pointed at A's ServiceAccount: refused, A's grants untouched.
	before := bootstrapRBACVersions(t, ctx, admin, idA)
	_, err = bootstrap.Run(ctx, c.AdminConfig(), bootstrap.Options{ClusterID: idB, Namespaces: []string{nsB}, ServiceAccountName: "pushd-" + idA})
	if !errors.Is(err, bootstrap.ErrIdentityTaken) || !strings.Contains(err.Error(), idA) {
		t.Fatalf("bootstrap B with A's ServiceAccount: %v, want ErrIdentityTaken naming %s", err, idA)
	}
	if diff := cmp.Diff(before, bootstrapRBACVersions(t, ctx, admin, idA)); diff != "" {
		t.Errorf("A's RBAC changed (-before +after):\n%s", diff)
	}
	sa, err := admin.CoreV1().ServiceAccounts("vworkspace-pushd").Get(ctx, "pushd-"+idA, metav1.GetOptions{})
	if err != nil || sa.Labels[bootstrapClusterIDLabel] != idA {
		t.Fatalf("A's ServiceAccount after the refused run: %v (err %v)", sa.Labels, err)
	}

	// A ServiceAccount someone else made is not pushd's to take either.
	foreign := "foreign-" + nsA[2:]
	if _, err := admin.CoreV1().ServiceAccounts(nsA).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: foreign}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = bootstrap.Run(ctx, c.AdminConfig(), bootstrap.Options{ClusterID: idA, Namespaces: []string{nsA}, ServiceAccountNamespace: nsA, ServiceAccountName: foreign})
	if !errors.Is(err, bootstrap.ErrIdentityTaken) {
		t.Fatalf("bootstrap with a foreign ServiceAccount: %v, want ErrIdentityTaken", err)
	}
}
