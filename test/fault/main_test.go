// Package fault holds the fault suites: the real pushd binary, real signed
// requests and real test-bed API servers, while pushd is killed in a loop,
// its PostgreSQL is restarted, or a cluster's API server goes away mid-job.
// After each run internal/faultcheck holds the callbacks received, the
// store and the clusters against pushd's promises.
//
// A failing run names its seed; PUSHD_FAULT_SEED=N replays its choices
// (which jobs, which cancels, when each kill comes).
package fault

import (
	"testing"
	"time"

	"github.com/vworkspace/pushd/internal/blackbox"
	"github.com/vworkspace/pushd/internal/testbed"
)

// suite is the pushd binary and the test bed (two clusters) of the package.
var suite blackbox.Suite

func TestMain(m *testing.M) {
	suite.Main(m, testbed.Options{Clusters: 2, OperatorDelay: 200 * time.Millisecond})
}
