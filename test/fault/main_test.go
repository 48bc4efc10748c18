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
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/internal/pushdproc"
	"github.com/vworkspace/pushd/internal/testbed"
)

var (
	bed    *testbed.Bed
	binary string // pushd, built once for the package
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pushd-fault-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if binary, err = pushdproc.Build(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bed = testbed.MustStart(testbed.Options{Clusters: 2, OperatorDelay: 200 * time.Millisecond})
	code := dbtest.Main(m)
	bed.Stop()
	os.RemoveAll(dir)
	os.Exit(code)
}
