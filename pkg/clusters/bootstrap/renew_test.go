package bootstrap_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/vworkspace/pushd/internal/fleettest"
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/clusters/bootstrap"
)

// TestRenewToken: a bootstrapped credential renews itself, for the same
// ServiceAccount, with the lifetime asked for; the new token works; a
// credential without the right is Forbidden and a revoked one Rejected.
func TestRenewToken(t *testing.T) {
	ctx := t.Context()
	c := bed.Clusters()[1]
	admin := fleettest.AdminClient(t, c)
	managed := fleettest.Namespace(t, c, true)
	id := "renew-" + managed[2:]
	res, err := bootstrap.Run(ctx, c.AdminConfig(), bootstrap.Options{ClusterID: id, Namespaces: []string{managed}, ServiceAccountName: id, TokenTTL: 20 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	cred := res.Credential
	original := cred.Token
	old, _ := cred.Claims()
	if lifetime := old.Expiry.Sub(old.IssuedAt); lifetime != 20*time.Minute {
		t.Fatalf("bootstrap token lifetime %s, want the 20m asked for", lifetime)
	}
	cl := renewClients(t, id, cred)
	bootstrapEventually(t, "the bootstrap credential applies", func() error { return bootstrapApplyConfigMap(ctx, cl.Kube, managed) })

	// renewCheck renews cred and checks the new token's lifetime, subject and use.
	renewCheck := func(t *testing.T, cl *clusters.Clients, cred *clusters.Credential, ttl, wantLifetime time.Duration) *clusters.Credential {
		t.Helper()
		renewed, err := bootstrap.RenewToken(ctx, cl, cred, ttl)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := renewed.Claims()
		if !ok {
			t.Fatal("the renewed token is not a JWT")
		}
		if got.Subject != old.Subject || got.Subject != "system:serviceaccount:vworkspace-pushd:"+id {
			t.Errorf("renewed subject %q, want %q", got.Subject, old.Subject)
		}
		if lifetime := got.Expiry.Sub(got.IssuedAt); lifetime != wantLifetime {
			t.Errorf("renewed lifetime %s, want %s", lifetime, wantLifetime)
		}
		if renewed.Token == cred.Token || renewed.Server != cred.Server || string(renewed.CAData) != string(cred.CAData) {
			t.Errorf("renewed %v from %v: want a new token for the same server and CA", renewed, cred)
		}
		if err := bootstrapApplyConfigMap(ctx, renewClients(t, id, renewed).Kube, managed); err != nil {
			t.Errorf("the renewed token does not work: %v", err)
		}
		return renewed
	}

	var longer *clusters.Credential
	t.Run("a longer lifetime", func(t *testing.T) {
		longer = renewCheck(t, cl, cred, time.Hour, time.Hour)
		if got, _ := longer.Claims(); !got.Expiry.After(old.Expiry) {
			t.Errorf("renewed expiry %s is not after the old %s", got.Expiry, old.Expiry)
		}
		if cred.Token != original {
			t.Error("RenewToken modified the credential it was given")
		}
	})
	t.Run("zero keeps the current lifetime", func(t *testing.T) {
		renewCheck(t, cl, cred, 0, 20*time.Minute)
	})
	t.Run("under the minimum is raised to 10m", func(t *testing.T) {
		renewCheck(t, cl, cred, time.Minute, 10*time.Minute)
	})
	t.Run("a renewed token renews again", func(t *testing.T) {
		if longer == nil {
			t.Skip("no renewed token")
		}
		renewCheck(t, renewClients(t, id, longer), longer, 0, time.Hour)
	})

	t.Run("forbidden without the token grant", func(t *testing.T) {
		// A token of another ServiceAccount, which has no right to renew itself.
		nobody := nobodyCredential(t, admin, managed, cred)
		_, err := bootstrap.RenewToken(ctx, renewClients(t, id, nobody), nobody, 0)
		if !errors.Is(err, bootstrap.ErrCredentialForbidden) || !apierrors.IsForbidden(err) || errors.Is(err, bootstrap.ErrCredentialRejected) {
			t.Fatalf("error %v, want ErrCredentialForbidden wrapping a 403", err)
		}
		if !strings.HasPrefix(err.Error(), fmt.Sprintf("cluster %q: ServiceAccount %s/nobody: renew token: ", id, managed)) {
			t.Errorf("error %q does not name its subject first", err)
		}
		bootstrapCheckNoSecret(t, err.Error(), "error", nobody.Token)
	})

	t.Run("rejected once revoked", func(t *testing.T) {
		if err := admin.CoreV1().ServiceAccounts("vworkspace-pushd").Delete(ctx, id, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		// The API server caches a token's authentication for 10s.
		bootstrapEventually(t, "renewal with a revoked token", func() error {
			_, err := bootstrap.RenewToken(ctx, cl, cred, 0)
			if errors.Is(err, bootstrap.ErrCredentialRejected) && apierrors.IsUnauthorized(err) && !errors.Is(err, bootstrap.ErrCredentialForbidden) {
				bootstrapCheckNoSecret(t, err.Error(), "error", cred.Token)
				return nil
			}
			return fmt.Errorf("want ErrCredentialRejected wrapping a 401, got %v", err)
		})
	})

	t.Run("never sent to another cluster", func(t *testing.T) {
		other := renewClients(t, "other", &clusters.Credential{Server: bed.Clusters()[2].Host, CAData: bed.Clusters()[2].CAData, Token: bed.Clusters()[2].AdminToken})
		_, err := bootstrap.RenewToken(ctx, other, longer, 0)
		if err == nil || !strings.Contains(err.Error(), "the credential is for "+c.Host) {
			t.Fatalf("error %v, want a refusal naming both servers", err)
		}
	})
}

// TestRenewTokenNotRenewable: credentials that are not expiring
// ServiceAccount tokens are refused before anything is sent.
func TestRenewTokenNotRenewable(t *testing.T) {
	exp := time.Now().Add(time.Hour).Unix()
	for _, tc := range []struct {
		name string
		cred clusters.Credential
	}{
		{"opaque token", clusters.Credential{Token: "opaque-secret-token"}},
		{"user JWT", clusters.Credential{Token: renewJWT(t, map[string]any{"sub": "alice", "exp": exp})}},
		{"legacy Secret token without expiry", clusters.Credential{Token: renewJWT(t, map[string]any{"sub": "system:serviceaccount:ns:sa"})}},
		{"client certificate", clusters.Credential{CertData: []byte("cert"), KeyData: []byte("key")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Port 1 refuses connections: a request would fail differently.
			tc.cred.Server = "https://127.0.0.1:1"
			transport := clusters.Credential{Server: tc.cred.Server, Token: "unused"}
			cl, err := clusters.NewClients("x", transport.RESTConfig(), clusters.ClientOptions{Timeout: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			_, err = bootstrap.RenewToken(t.Context(), cl, &tc.cred, 0)
			if !errors.Is(err, bootstrap.ErrNotRenewable) {
				t.Fatalf("error %v, want ErrNotRenewable", err)
			}
			if tc.cred.Token != "" {
				bootstrapCheckNoSecret(t, err.Error(), "error", tc.cred.Token)
			}
		})
	}
}

func TestRenewalDue(t *testing.T) {
	issued := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	day := issued.Add(24 * time.Hour)
	for _, tc := range []struct {
		name   string
		claims clusters.TokenClaims
		now    time.Time
		want   bool
	}{
		{"just issued", clusters.TokenClaims{IssuedAt: issued, Expiry: day}, issued, false},
		{"half its life left", clusters.TokenClaims{IssuedAt: issued, Expiry: day}, issued.Add(12 * time.Hour), false},
		{"a minute more than a third left", clusters.TokenClaims{IssuedAt: issued, Expiry: day}, day.Add(-8*time.Hour - time.Minute), false},
		{"exactly a third left", clusters.TokenClaims{IssuedAt: issued, Expiry: day}, day.Add(-8 * time.Hour), false},
		{"a minute less than a third left", clusters.TokenClaims{IssuedAt: issued, Expiry: day}, day.Add(-8*time.Hour + time.Minute), true},
		{"expired", clusters.TokenClaims{IssuedAt: issued, Expiry: day}, day.Add(time.Hour), true},
		{"10m token, 4m left", clusters.TokenClaims{IssuedAt: issued, Expiry: issued.Add(10 * time.Minute)}, issued.Add(6 * time.Minute), false},
		{"10m token, 3m left", clusters.TokenClaims{IssuedAt: issued, Expiry: issued.Add(10 * time.Minute)}, issued.Add(7 * time.Minute), true},
		{"unknown lifetime, 2h left", clusters.TokenClaims{Expiry: day}, day.Add(-2 * time.Hour), false},
		{"unknown lifetime, 59m left", clusters.TokenClaims{Expiry: day}, day.Add(-59 * time.Minute), true},
		{"issued after expiry: lifetime unknown", clusters.TokenClaims{IssuedAt: day.Add(time.Hour), Expiry: day}, day.Add(-2 * time.Hour), false},
		{"no expiry", clusters.TokenClaims{IssuedAt: issued}, issued.Add(1000 * time.Hour), false},
		{"nothing known", clusters.TokenClaims{}, issued, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := bootstrap.RenewalDue(tc.claims, tc.now); got != tc.want {
				t.Errorf("RenewalDue(%+v, %s) = %t, want %t", tc.claims, tc.now, got, tc.want)
			}
		})
	}
}

// TestBootstrapAndRenewNeverLeakTokens is the canary of rule 7: no error text
// and no log line (debug level) of Run or RenewToken, failing or not,
// holds a token, the admin's included.
func TestBootstrapAndRenewNeverLeakTokens(t *testing.T) {
	ctx := t.Context()
	c := bed.Clusters()[2]
	admin := fleettest.AdminClient(t, c)
	managed := fleettest.Namespace(t, c, true)
	id := "canary-" + managed[2:]
	logs := &bootstrapLogBuffer{}
	log := logs.logger()
	var texts []string // every error text produced

	res, err := bootstrap.Run(ctx, c.AdminConfig(), bootstrap.Options{ClusterID: id, Namespaces: []string{managed}, ServiceAccountName: id, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	cred := res.Credential
	log.Info("bootstrap result", "result", res, "credential", cred) // the result itself prints no secret
	texts = append(texts, fmt.Sprintf("%v %+v %s", res, *res, cred))

	cl, err := clusters.NewClients(id, cred.RESTConfig(), clusters.ClientOptions{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	bootstrapEventually(t, "the credential applies", func() error { return bootstrapApplyConfigMap(ctx, cl.Kube, managed) })
	renewed, err := bootstrap.RenewToken(ctx, cl, cred, time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	// Failures with a secret in hand: a wrong admin token (401), a forged
	// ServiceAccount token (401), a token without the right to renew (403).
	badAdmin := c.AdminConfig()
	badAdmin.BearerToken = "admin-canary-" + managed
	_, err = bootstrap.Run(ctx, badAdmin, bootstrap.Options{ClusterID: id, Namespaces: []string{managed}, ServiceAccountName: id, Logger: log})
	if !apierrors.IsUnauthorized(err) {
		t.Errorf("bootstrap with a wrong admin token: %v, want Unauthorized", err)
	}
	texts = append(texts, fmt.Sprint(err))

	parts := strings.Split(renewed.Token, ".")
	forged := *cred
	forged.Token = parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))
	_, err = bootstrap.RenewToken(ctx, renewClients(t, id, &forged), &forged, 0)
	if !errors.Is(err, bootstrap.ErrCredentialRejected) {
		t.Errorf("renewal with a forged token: %v, want ErrCredentialRejected", err)
	}
	texts = append(texts, fmt.Sprint(err))

	nobody := nobodyCredential(t, admin, managed, cred)
	_, err = bootstrap.RenewToken(ctx, renewClients(t, id, nobody), nobody, 0)
	if !errors.Is(err, bootstrap.ErrCredentialForbidden) {
		t.Errorf("renewal without the right: %v, want ErrCredentialForbidden", err)
	}
	texts = append(texts, fmt.Sprint(err))

	if !strings.Contains(logs.String(), "minted token") {
		t.Fatalf("the canary saw no log line of Bootstrap:\n%s", logs.String())
	}
	secrets := []string{cred.Token, renewed.Token, forged.Token, nobody.Token, c.AdminToken, badAdmin.BearerToken}
	bootstrapCheckNoSecret(t, logs.String(), "log", secrets...)
	for _, text := range texts {
		bootstrapCheckNoSecret(t, text, "error", secrets...)
	}
}

// renewClients are the clients of a credential, closed with the test.
func renewClients(t *testing.T, id string, cred *clusters.Credential) *clusters.Clients {
	t.Helper()
	cl, err := clusters.NewClients(id, cred.RESTConfig(), clusters.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// renewJWT is an unsigned JWT with these claims: enough for Claims(), which
// never checks signatures.
func renewJWT(t *testing.T, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256"}`)) + "." + enc(payload) + ".c2lnbmF0dXJl"
}

// nobodyCredential is cred with the token of ServiceAccount nobody in ns,
// made for it: a ServiceAccount with no right to renew its token.
func nobodyCredential(t *testing.T, admin kubernetes.Interface, ns string, cred *clusters.Credential) *clusters.Credential {
	t.Helper()
	ctx := t.Context()
	if _, err := admin.CoreV1().ServiceAccounts(ns).Apply(ctx, corev1ac.ServiceAccount("nobody", ns), metav1.ApplyOptions{FieldManager: "test"}); err != nil {
		t.Fatal(err)
	}
	tr, err := admin.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "nobody", bootstrapTokenRequest(), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return &clusters.Credential{Server: cred.Server, CAData: cred.CAData, Token: tr.Status.Token}
}
