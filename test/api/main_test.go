// Package api holds the tests of pkg/api that need a real cluster — what a
// real probe finds, what a real apply writes, what the watcher reads back —
// on the test bed's kube-apiserver, on SQLite and PostgreSQL. They drive
// the API in process (internal/apitest), as pkg/api's tests do on a fake
// cluster; they are here so that pkg/api's run without the test bed.
package api

import (
	"testing"

	"k8s.io/client-go/kubernetes"

	"github.com/vworkspace/pushd/internal/apitest"
	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/internal/fleettest"
	"github.com/vworkspace/pushd/internal/testbed"
	"github.com/vworkspace/pushd/pkg/apply"
	"github.com/vworkspace/pushd/pkg/jobs"
)

// bed starts when a test first asks for its clusters.
var bed = fleettest.LazyBed(testbed.Options{Clusters: 1})

func TestMain(m *testing.M) { fleettest.Main(m, bed) }

// newClusterEnv is the API on the test bed's cluster, wired as pushd serve
// wires it: its monitor probes, its engines apply, its watcher reads.
func newClusterEnv(t *testing.T, db dbtest.Database, opts ...apitest.Option) *apitest.Env {
	t.Helper()
	return apitest.New(t, db, func(_ *testing.T, f *fleettest.Fleet) apitest.Wiring {
		return apitest.Wiring{Cluster: bedCluster{bed.Clusters()[0]}, Clusters: f.Registry, Health: f.Monitor,
			Engines: jobs.EnginesOf(apply.NewEngines(f.Registry, apply.Options{Logger: f.Logger}))}
	}, opts...)
}

// bedCluster is a test-bed cluster as an apitest.Cluster.
type bedCluster struct{ *testbed.Cluster }

func (c bedCluster) Server() (string, []byte) { return c.Host, c.CAData }
func (c bedCluster) AdminToken() string       { return c.Cluster.AdminToken }

func (c bedCluster) Admin(t *testing.T) kubernetes.Interface {
	return fleettest.AdminClient(t, c.Cluster)
}
