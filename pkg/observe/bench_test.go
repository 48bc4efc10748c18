package observe_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/cli-utils/pkg/object"

	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/internal/fleettest"
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/inventory"
	"github.com/vworkspace/pushd/pkg/observe"
)

// benchObjects is the size of the benchmarked application.
const benchObjects = 1000

// countingClusters is the registry, except that the benchmarked cluster's
// clients count the HTTP requests they send.
type countingClusters struct {
	*clusters.Registry
	id      string
	clients *clusters.Clients
}

func (c countingClusters) Clients(id string) (*clusters.Clients, error) {
	if id == c.id {
		return c.clients, nil
	}
	return c.Registry.Clients(id)
}

// benchSetup applies one application of benchObjects ConfigMaps through a
// job (least-privilege credential) and returns the harness and clients
// counting their requests into n.
func benchSetup(b *testing.B, n *atomic.Int64) (*harness, *clusters.Clients) {
	b.Helper()
	unthrottled := clusters.ClientOptions{QPS: 5000, Burst: 5000, Timeout: 30 * time.Second}
	db := dbtest.Database{Driver: "sqlite", DSN: filepath.Join(b.TempDir(), "pushd.db")}
	h := newHarnessWith(b, db, observe.Options{}, unthrottled, bed.Clusters()[0])
	id := h.IDs[0]
	manifests := make([]json.RawMessage, benchObjects)
	for i := range manifests {
		manifests[i] = configMap(fmt.Sprintf("cm-%04d", i), map[string]string{"i": fmt.Sprint(i), "payload": "some configuration value"})
	}
	start := time.Now()
	h.deploy(b, "bench-deploy", id, "nextcloud", manifests...)
	b.Logf("setup: applied %d ConfigMaps through a job in %s", benchObjects, time.Since(start).Round(time.Millisecond))
	cred, _, err := h.Creds.Load(id)
	if err != nil {
		b.Fatal(err)
	}
	cfg := cred.RESTConfig()
	fleettest.CountRequests(cfg, n)
	c, err := clusters.NewClients(id, cfg, unthrottled)
	if err != nil {
		b.Fatal(err)
	}
	return h, c
}

// measure runs fn b.N times and reports its cost per 1,000 objects and its
// API requests per object; it returns both for the ratios.
func measure(b *testing.B, n *atomic.Int64, fn func() error) (msPer1k, reqPerObject float64) {
	if err := fn(); err != nil { // warm up: discovery, pre-filter references
		b.Fatal(err)
	}
	n.Store(0)
	b.ResetTimer()
	for b.Loop() {
		if err := fn(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	perOp := b.Elapsed() / time.Duration(b.N)
	msPer1k = float64(perOp.Microseconds()) / 1000 * 1000 / benchObjects
	reqPerObject = float64(n.Load()) / float64(b.N) / benchObjects
	b.ReportMetric(msPer1k, "ms/1k-objects")
	b.ReportMetric(reqPerObject, "requests/object")
	b.ReportMetric(0, "ns/op")
	return msPer1k, reqPerObject
}

// BenchmarkStatusPoll compares the watcher's poll (one label-selected LIST
// per kind and namespace) with a naive poll that GETs every object of the
// observe.
func BenchmarkStatusPoll(b *testing.B) {
	var n atomic.Int64
	h, c := benchSetup(b, &n)
	id := h.IDs[0]
	w := observe.NewWatcher(h.Store, countingClusters{h.Registry, id, c}, h.Monitor, observe.Options{})
	ctx := context.Background()
	var poll, naive [2]float64
	b.Run("list-per-kind", func(b *testing.B) {
		poll[0], poll[1] = measure(b, &n, func() error { return w.Poll(ctx, id) })
	})
	b.Run("baseline-get-per-object", func(b *testing.B) {
		naive[0], naive[1] = measure(b, &n, func() error { return naivePoll(ctx, c, h.NS) })
	})
	fmt.Printf("status poll of %d objects: %.1f ms/1k objects, %.4f requests/object; GET per object: %.1f ms/1k, %.4f requests/object; %.1fx faster, %.0fx fewer requests\n",
		benchObjects, poll[0], poll[1], naive[0], naive[1], naive[0]/poll[0], naive[1]/poll[1])
}

// naivePoll reads the inventory and GETs each of its objects.
func naivePoll(ctx context.Context, c *clusters.Clients, ns string) error {
	cms, err := c.Kube.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{LabelSelector: inventory.Selector(c.ClusterID).String()})
	if err != nil {
		return err
	}
	for _, cm := range cms.Items {
		for k := range cm.Data {
			id, err := object.ParseObjMetadata(k)
			if err != nil {
				return err
			}
			m, err := c.Mapper.RESTMapping(id.GroupKind)
			if err != nil {
				return err
			}
			u, err := c.Dynamic.Resource(m.Resource).Namespace(id.Namespace).Get(ctx, id.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if _, err := status.Compute(u); err != nil {
				return err
			}
		}
	}
	return nil
}

// BenchmarkDriftCheck compares the drift check with its managedFields
// pre-filter (objects found in sync before are not dry-run again while
// pushd's field set is intact) with a dry-run of every object.
func BenchmarkDriftCheck(b *testing.B) {
	var n atomic.Int64
	h, c := benchSetup(b, &n)
	id := h.IDs[0]
	ctx := context.Background()
	var pre, all [2]float64
	b.Run("prefiltered", func(b *testing.B) {
		w := observe.NewWatcher(h.Store, countingClusters{h.Registry, id, c}, h.Monitor, observe.Options{})
		pre[0], pre[1] = measure(b, &n, func() error { return w.CheckDrift(ctx, id) })
	})
	b.Run("baseline-dry-run-every-object", func(b *testing.B) {
		w := observe.NewWatcher(h.Store, countingClusters{h.Registry, id, c}, h.Monitor, observe.Options{DryRunAll: true})
		all[0], all[1] = measure(b, &n, func() error { return w.CheckDrift(ctx, id) })
	})
	fmt.Printf("drift check of %d objects in sync: %.1f ms/1k objects, %.4f requests/object; dry-run of every object: %.1f ms/1k, %.4f requests/object; %.1fx faster, %.0fx fewer requests\n",
		benchObjects, pre[0], pre[1], all[0], all[1], all[0]/pre[0], all[1]/pre[1])
}
