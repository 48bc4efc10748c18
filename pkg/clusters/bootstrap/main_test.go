package bootstrap_test

import (
	"testing"

	"github.com/vworkspace/pushd/internal/fleettest"
)

// bed is shared by the package's tests; each test makes its own namespaces.
// bed starts when a test first asks for its clusters.
var bed = fleettest.QuietBed(3)

func TestMain(m *testing.M) {
	fleettest.Main(m, bed)
}
