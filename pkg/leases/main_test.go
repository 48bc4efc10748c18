package leases

import (
	"os"
	"testing"

	"github.com/vworkspace/pushd/internal/dbtest"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }
