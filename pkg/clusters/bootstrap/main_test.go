package bootstrap_test

import (
	"log/slog"
	"os"
	"testing"

	"github.com/vworkspace/pushd/internal/fleettest"
	"github.com/vworkspace/pushd/internal/testbed"
)

// bed is shared by the package's tests; each test makes its own namespaces.
// bed starts when a test first asks for its clusters.
var bed = fleettest.LazyBed(testbed.Options{Clusters: 3, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})

func TestMain(m *testing.M) {
	fleettest.Main(m, bed)
}
