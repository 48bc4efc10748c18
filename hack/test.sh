#!/usr/bin/env bash
# The one test command: vet, build the test bed (cached after the first time),
# then run every test on SQLite and PostgreSQL against real API servers — the
# end-to-end tests of test/e2e and the fault suites of test/fault (pushd killed
# in a loop, its database and an API server restarted) among them — and the
# concurrent packages once more under the race detector.
set -euo pipefail
cd "$(dirname "$0")/.."

# PostgreSQL runs must not be skipped: a missing server fails the suite.
export PUSHD_REQUIRE_POSTGRES=1

echo "== go vet"
go vet ./...
echo "== test bed binaries"
go run ./hack/testbed build
echo "== go test"
go test -count=1 -timeout 45m "$@" ./...
# The packages whose goroutines share state (workers, leases, breakers, the
# delivery loop) again under the race detector: about 5 minutes on 2 cores,
# its instrumented build included.
echo "== go test -race (concurrent packages)"
go test -race -count=1 -timeout 30m "$@" ./pkg/workers/ ./pkg/outbox/ ./pkg/leases/ ./pkg/health/ ./pkg/jobs/ ./pkg/observe/
