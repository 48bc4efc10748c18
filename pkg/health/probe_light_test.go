package health_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"

	"github.com/vworkspace/pushd/internal/fleettest"
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/health"
)

// TestLightProbeConfirmsWithOneRequestPerNamespace: between full probes an
// idle cluster is confirmed with one GET of each allowed namespace, and the
// confirmation keeps what the full probe saw; any change (here the
// managed-by label removed) is not confirmed, so the monitor probes fully.
func TestLightProbeConfirmsWithOneRequestPerNamespace(t *testing.T) {
	ctx := context.Background()
	c := bed.Clusters()[0]
	ns := fleettest.Namespace(t, c, true)
	var n atomic.Int64
	cfg := c.AdminConfig()
	fleettest.CountRequests(cfg, &n)
	cl, err := clusters.NewClients(c.Name, cfg, clusters.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	rec := &clusters.Record{ID: c.Name, AllowedNamespaces: []string{ns}}
	full := health.Probe(ctx, cl, rec, nil, time.Now())
	if full.Connectivity.State != health.StateReady || len(full.Namespaces) != 1 || !full.Namespaces[0].Labeled {
		t.Fatalf("full probe: %+v", full)
	}
	fullRequests := n.Swap(0)

	now := time.Now()
	light, ok := health.ProbeLight(ctx, cl, rec, full, now)
	if !ok {
		t.Fatal("light probe did not confirm an unchanged cluster")
	}
	if got := n.Swap(0); got != 1 {
		t.Errorf("light probe: %d requests, want 1 (the full probe made %d)", got, fullRequests)
	}
	if light.Connectivity.CheckedAt == nil || !light.Connectivity.CheckedAt.Equal(now) || light.Credential.Subject != full.Credential.Subject ||
		light.Namespaces[0].RightsOK != full.Namespaces[0].RightsOK {
		t.Errorf("light probe lost what the full probe saw: %+v", light)
	}

	patch := []byte(`{"metadata":{"labels":{"managed-by":null}}}`)
	if _, err := fleettest.AdminClient(t, c).CoreV1().Namespaces().Patch(ctx, ns, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, ok := health.ProbeLight(ctx, cl, rec, full, time.Now()); ok {
		t.Error("light probe confirmed a namespace that lost its managed-by label")
	}
	bad := rest.CopyConfig(cfg)
	bad.BearerToken = "not-a-token"
	badCl, err := clusters.NewClients(c.Name, bad, clusters.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(badCl.Close)
	if _, ok := health.ProbeLight(ctx, badCl, rec, full, time.Now()); ok {
		t.Error("light probe confirmed a rejected credential")
	}
}
