package health_test

import (
	"context"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/internal/fleettest"
	"github.com/vworkspace/pushd/internal/testbed"
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/health"
)

// TestProbeShowsTokenLifetime: the test bed's API servers set no
// --service-account-max-token-expiration, so a bootstrapped credential may
// mint itself a ten-year token, and its full probe says so (not capped, ten
// years granted). It finds out without a token the API server accepts: a
// dry-run TokenRequest's token works like any other (checked here, as the
// reason the probe does not rely on dry run), one for the probe's own
// audience is refused.
func TestProbeShowsTokenLifetime(t *testing.T) {
	bed.Each(t, 0, func(t *testing.T, ctx context.Context, db dbtest.Database, c *testbed.Cluster) {
		f, rec, st := probeEnrolled(t, ctx, db, c, "lifetime-")
		if got := st.Credential.TokenLifetime; got == nil || got.Capped || got.MaxSeconds != 87600*3600 {
			t.Fatalf("token lifetime on an API server without a cap: %+v", got)
		}

		cl, err := f.Registry.Clients(rec.ID)
		if err != nil {
			t.Fatal(err)
		}
		cred, _ := f.Registry.Credential(rec.ID)
		claims, _ := cred.Claims()
		for _, tc := range []struct {
			audiences []string
			accepted  bool
		}{{nil, true}, {[]string{"pushd.invalid/token-lifetime-check"}, false}} {
			secs := int64(3600)
			tr, err := cl.Kube.CoreV1().ServiceAccounts(claims.Namespace).CreateToken(ctx, claims.Name, &authenticationv1.TokenRequest{
				Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &secs, Audiences: tc.audiences},
			}, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			if err != nil {
				t.Fatal(err)
			}
			cfg := rest.CopyConfig(cl.Config)
			cfg.BearerToken = tr.Status.Token
			kube, err := kubernetes.NewForConfig(cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, err = kube.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
			if tc.accepted && err != nil || !tc.accepted && !apierrors.IsUnauthorized(err) {
				t.Fatalf("dry-run token for audiences %v: %v, want accepted %v", tc.audiences, err, tc.accepted)
			}
		}
	})
}

// TestProbeShowsTokenLifetimeCap starts an API server of its own with
// --service-account-max-token-expiration=48h: the probe's ten-year request
// is shortened to the cap, and the probe says so.
func TestProbeShowsTokenLifetimeCap(t *testing.T) {
	capped, err := testbed.Start(t.Context(), testbed.Options{Clusters: 1, MaxTokenExpiration: 48 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := capped.Stop(); err != nil {
			t.Error(err)
		}
	})
	c := capped.Clusters[0]
	dbtest.EachContext(t, func(t *testing.T, ctx context.Context, db dbtest.Database) {
		_, _, st := probeEnrolled(t, ctx, db, c, "capped-")
		if got := st.Credential.TokenLifetime; got == nil || !got.Capped || got.MaxSeconds != 48*3600 {
			t.Fatalf("token lifetime on an API server capping at 48h: %+v", got)
		}
	})
}

// probeEnrolled registers a record (id prefix and a fresh managed
// namespace of c) with a bootstrapped credential and probes it, which must
// find it ready.
func probeEnrolled(t *testing.T, ctx context.Context, db dbtest.Database, c *testbed.Cluster, prefix string) (*fleettest.Fleet, *clusters.Record, health.Status) {
	t.Helper()
	f := fleettest.New(t, db, fleettest.Options{})
	ns := fleettest.Namespace(t, c, true)
	rec, _, err := f.Registry.Put(ctx, "acme", clusters.Record{ID: prefix + ns[2:], AllowedNamespaces: []string{ns}})
	if err != nil {
		t.Fatal(err)
	}
	fleettest.Enroll(t, f.Creds, c, rec.ID, []string{ns})
	st, err := f.Monitor.Check(ctx, rec)
	if err != nil || st.Connectivity.State != health.StateReady {
		t.Fatalf("%s %s %v", st.Connectivity.State, st.Connectivity.Message, err)
	}
	return f, rec, st
}
