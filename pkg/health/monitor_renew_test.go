package health_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/internal/fleettest"
	"github.com/vworkspace/pushd/internal/testbed"
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/clusters/bootstrap"
	"github.com/vworkspace/pushd/pkg/health"
	"github.com/vworkspace/pushd/pkg/store"
)

// TestMonitorRenewsTokensDue runs the monitor with a clock 45 minutes ahead:
// a bootstrapped one-hour token then has less than a third of its life left,
// and the monitor renews it for real through TokenRequest.
func TestMonitorRenewsTokensDue(t *testing.T) {
	bed.Each(t, 0, func(t *testing.T, ctx context.Context, db dbtest.Database, c *testbed.Cluster) {
		ns := fleettest.Namespace(t, c, true)
		f := fleettest.AdminFleet(t, db, bed.Clusters()...)
		rec, _, err := f.Registry.Put(ctx, "acme", clusters.Record{ID: c.Name, AllowedNamespaces: []string{ns}})
		if err != nil {
			t.Fatal(err)
		}
		res, err := bootstrap.Run(ctx, c.AdminConfig(), bootstrap.Options{ClusterID: c.Name, Namespaces: []string{ns}, TokenTTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Creds.Save(c.Name, res.Credential); err != nil {
			t.Fatal(err)
		}
		before, _ := res.Credential.Claims()

		clock := time.Now().Add(45 * time.Minute)
		mon := health.NewMonitor(f.Registry, f.Store, health.MonitorOptions{Now: func() time.Time { return clock }})
		st, err := mon.Check(ctx, rec)
		if err != nil {
			t.Fatal(err)
		}
		if st.Connectivity.State != health.StateReady || st.Credential.RenewedAt == nil {
			t.Fatalf("want a ready cluster with a renewed credential: %+v", st)
		}
		cred, _, err := f.Creds.Load(c.Name)
		if err != nil {
			t.Fatal(err)
		}
		after, _ := cred.Claims()
		// The API server's clock is real, so a token renewed within the same
		// second expires at the same second: it must be a new token all the same.
		if cred.Token == res.Credential.Token || after.Subject != before.Subject || after.Expiry.Before(before.Expiry) {
			t.Fatalf("renewed token: %s until %s; before %s until %s", after.Subject, after.Expiry, before.Subject, before.Expiry)
		}
		if st.Credential.Expiry == nil || !st.Credential.Expiry.Equal(after.Expiry) {
			t.Fatalf("status shows expiry %v, stored token expires %s", st.Credential.Expiry, after.Expiry)
		}
		// The new token is the one the next probe uses.
		if st, _ := mon.Check(ctx, rec); st.Connectivity.State != health.StateReady {
			t.Fatalf("after renewal: %+v", st.Connectivity)
		}
		// The renewal is in acme's audit log, done by pushd itself (the
		// second probe, still 45 minutes ahead, renewed again).
		audit, err := f.Store.AuditEntries(ctx, "acme", store.AuditFilter{Action: store.AuditCredentialRenewed})
		if err != nil {
			t.Fatal(err)
		}
		if len(audit) == 0 || audit[0].ActorKind != store.ActorPushd || audit[0].Cluster != c.Name || audit[0].ClusterUID != rec.UID || audit[0].Outcome != store.AuditOK {
			t.Fatalf("audit entries of the renewal: %+v", audit)
		}
	})
}

// TestMonitorReportsExpiringOnce gives pushd a token it may not renew: when
// the (injected) clock nears its expiry the monitor reports credential.expiring
// once, and backs off instead of retrying on every probe.
func TestMonitorReportsExpiringOnce(t *testing.T) {
	bed.Each(t, 1, func(t *testing.T, ctx context.Context, db dbtest.Database, c *testbed.Cluster) {
		admin := fleettest.AdminClient(t, c)
		ns := fleettest.Namespace(t, c, true)
		if _, err := admin.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "no-renew"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		ttl := int64(3600)
		tr, err := admin.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "no-renew", &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &ttl}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		f := fleettest.AdminFleet(t, db, bed.Clusters()...)
		rec, _ := f.Registry.Get(ctx, "", c.Name)
		if err := f.Creds.Save(c.Name, &clusters.Credential{Server: c.Host, CAData: c.CAData, Token: tr.Status.Token}); err != nil {
			t.Fatal(err)
		}
		clock := time.Now().Add(55 * time.Minute)
		mon := health.NewMonitor(f.Registry, f.Store, health.MonitorOptions{Now: func() time.Time { return clock }})
		for range 3 {
			if _, err := mon.Check(ctx, rec); err != nil {
				t.Fatal(err)
			}
			clock = clock.Add(10 * time.Second)
		}
		events, err := f.Store.Events(ctx, c.Name, 20)
		if err != nil {
			t.Fatal(err)
		}
		var expiring []map[string]any
		for _, e := range events {
			if e.Type == health.EventCredentialExpiring {
				var d map[string]any
				json.Unmarshal([]byte(e.Data), &d)
				expiring = append(expiring, d)
			}
		}
		if len(expiring) != 1 {
			t.Fatalf("want exactly one credential.expiring event, got %d: %v", len(expiring), expiring)
		}
		if expiring[0]["subject"] != "system:serviceaccount:"+ns+":no-renew" {
			t.Fatalf("event: %v", expiring[0])
		}
	})
}
