package api_test

import (
	"testing"

	"k8s.io/client-go/kubernetes"

	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/internal/fleettest"
	"github.com/vworkspace/pushd/internal/testbed"
	"github.com/vworkspace/pushd/pkg/apply"
	"github.com/vworkspace/pushd/pkg/jobs"
)

// The tests that need a real cluster — what a real probe finds, what a
// real apply writes, what the watcher reads back — are in the files named
// *_cluster_test.go and run on newClusterEnv; every other test runs on the
// fake cluster, so the test bed starts only for these.

// bed starts when a test first asks for its clusters.
var bed = fleettest.LazyBed(testbed.Options{Clusters: 1})

// newClusterEnv is the API on the test bed's cluster, wired as pushd serve
// wires it: its monitor probes, its engines apply, its watcher reads.
func newClusterEnv(t *testing.T, db dbtest.Database, opts ...envOption) *env {
	t.Helper()
	return build(t, db, func(_ *testing.T, f *fleettest.Fleet) wiring {
		return wiring{cluster: bedCluster{bed.Clusters()[0]}, clusters: f.Registry, health: f.Monitor,
			engines: jobs.EnginesOf(apply.NewEngines(f.Registry, apply.Options{Logger: f.Logger}))}
	}, opts...)
}

// bedCluster is a test-bed cluster as a testCluster.
type bedCluster struct{ *testbed.Cluster }

func (c bedCluster) Server() (string, []byte) { return c.Host, c.CAData }
func (c bedCluster) AdminToken() string       { return c.Cluster.AdminToken }

func (c bedCluster) Admin(t *testing.T) kubernetes.Interface {
	kube, err := kubernetes.NewForConfig(c.AdminConfig())
	if err != nil {
		t.Fatal(err)
	}
	return kube
}
