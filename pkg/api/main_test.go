package api_test

import (
	"os"
	"testing"

	"github.com/vworkspace/pushd/internal/apitest"
	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/internal/fleettest"
)

// These tests run on a fake cluster (fakecluster_test.go): they start no
// test bed. The tests that need a real one — what a real probe finds, what
// a real apply writes, what the watcher reads back — are test/api's.
func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

// newEnv is the API (internal/apitest) on the fake cluster: probes, jobs
// and the watcher's reads reach nothing outside the test.
func newEnv(t *testing.T, db dbtest.Database, opts ...apitest.Option) *apitest.Env {
	t.Helper()
	return apitest.New(t, db, func(t *testing.T, f *fleettest.Fleet) apitest.Wiring {
		fc := newFakeCluster(t, f.Registry)
		return apitest.Wiring{Cluster: fc, Clusters: fc, Health: fc, Engines: fc}
	}, opts...)
}
