// Package e2e holds the end-to-end tests of the real pushd binary, one file
// a scenario: signed requests as Odoo sends them, callbacks checked against
// the contract, real test-bed API servers, pushd killed with SIGKILL and
// started again, or run as several replicas on one PostgreSQL.
package e2e

import (
	"testing"
	"time"

	"github.com/vworkspace/pushd/internal/blackbox"
	"github.com/vworkspace/pushd/internal/testbed"
)

// suite is the pushd binary and the test bed (three clusters) of the package.
var suite blackbox.Suite

func TestMain(m *testing.M) {
	suite.Main(m, testbed.Options{Clusters: 3, OperatorDelay: 300 * time.Millisecond})
}
