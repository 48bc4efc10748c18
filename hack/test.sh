#!/usr/bin/env bash
# The one test command: vet, build the test bed (cached after the first time),
# then run every test on SQLite and PostgreSQL against real API servers.
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
