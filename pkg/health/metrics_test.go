package health_test

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/internal/fleettest"
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/health"
	"github.com/vworkspace/pushd/pkg/store"
)

// scrape gathers reg into "name{label=value,…}" → value.
func scrape(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			sort.Strings(ls)
			out[mf.GetName()+"{"+strings.Join(ls, ",")+"}"] = m.GetGauge().GetValue()
		}
	}
	return out
}

// TestClusterGauges probes a live cluster and a dead one (its breaker
// opens at the first failure here) beside a cluster with no credential,
// and scrapes each one's connectivity, breaker state and credential expiry.
func TestClusterGauges(t *testing.T) {
	dbtest.EachContext(t, func(t *testing.T, ctx context.Context, db dbtest.Database) {
		now := time.Now().UTC().Truncate(time.Second)
		f := fleettest.New(t, db, fleettest.Options{Monitor: health.MonitorOptions{
			Breaker: health.BreakerOptions{Threshold: 1}, ProbeTimeout: 3 * time.Second, Now: func() time.Time { return now }}})
		live, dead, none := "live-"+fleettest.RandomID(), "dead-"+fleettest.RandomID(), "none-"+fleettest.RandomID()
		c := bed.Clusters()[0]
		for id, cred := range map[string]*clusters.Credential{
			live: {Server: c.Host, CAData: c.CAData, Token: c.AdminToken},
			dead: {Server: "https://127.0.0.1:1", CAData: c.CAData, Token: "t"},
			none: nil,
		} {
			rec, _, err := f.Registry.Put(ctx, fleettest.Org, clusters.Record{ID: id, AllowedNamespaces: []string{"default"}})
			if err != nil {
				t.Fatal(err)
			}
			if cred == nil {
				continue
			}
			if err := f.Creds.Save(id, cred); err != nil {
				t.Fatal(err)
			}
			f.Monitor.Check(ctx, rec)
		}
		// A bound ServiceAccount token's expiry, as a probe records it.
		expiry := now.Add(2 * time.Hour)
		if err := f.Store.SaveClusterStatus(ctx, &store.ClusterStatus{ClusterID: live, State: "ready", CheckedAt: now, CredentialExpiry: &expiry}); err != nil {
			t.Fatal(err)
		}

		reg := prometheus.NewRegistry()
		health.RegisterGauges(reg, f.Monitor)
		got := scrape(t, reg)
		for series, want := range map[string]float64{
			"pushd_cluster_connectivity{cluster=" + live + ",state=ready}":          1,
			"pushd_cluster_connectivity{cluster=" + live + ",state=unreachable}":    0,
			"pushd_cluster_connectivity{cluster=" + dead + ",state=unreachable}":    1,
			"pushd_cluster_connectivity{cluster=" + dead + ",state=ready}":          0,
			"pushd_cluster_connectivity{cluster=" + none + ",state=no_credentials}": 1,
			"pushd_cluster_breaker{cluster=" + live + ",state=closed}":              1,
			"pushd_cluster_breaker{cluster=" + dead + ",state=open}":                1,
			"pushd_cluster_breaker{cluster=" + dead + ",state=closed}":              0,
			"pushd_cluster_credential_expiry_seconds{cluster=" + live + "}":         7200,
		} {
			if v, ok := got[series]; !ok || v != want {
				t.Errorf("%s = %v (present %v), want %v", series, v, ok, want)
			}
		}
		if _, ok := got["pushd_cluster_credential_expiry_seconds{cluster="+dead+"}"]; ok {
			t.Error("an expiry for a credential that has none")
		}
	})
}
