#!/usr/bin/env bash
# Runs every fuzz target for a bounded number of executions each, starting
# from its committed corpus (testdata/fuzz/<Target>) and seeds.
# A failing input is written to testdata/fuzz/<Target>/ by go test: commit
# it with the fix, so it stays a regression test in every plain `go test`.
#
#   ./hack/fuzz.sh                 # every target, its default budget
#   FUZZTIME=2m ./hack/fuzz.sh     # every target for a time instead
#
# The budgets are execution counts, each about 10 s of fuzzing on the CI
# machine (measured with -fuzztime 10s). A time budget races Go's fuzzing
# coordinator: when a worker is still busy as -fuzztime ends, go test fails
# with a bare "context deadline exceeded" and no failing input
# (golang/go#75804, fixed in Go 1.27), which is what a loaded CI run hit
# on FuzzIntake. A count has no deadline to race.
set -euo pipefail
cd "$(dirname "$0")/.."

# package:target:budget, one per fuzz target in the repository.
targets=(
  ./pkg/webhook:FuzzVerify:200000x
  ./pkg/jobs:FuzzIntake:6000x
  ./pkg/clusters:FuzzParseKubeconfig:1500x
  ./pkg/cronspec:FuzzParse:400000x
)

# Every target is listed: a new Fuzz function not added above fails here.
found=$(grep -rhoE '^func (Fuzz[A-Za-z0-9_]+)' --include='*_test.go' pkg internal cmd | sort)
listed=$(printf '%s\n' "${targets[@]}" | cut -d: -f2 | sed 's/^/func /' | sort)
if [ "$found" != "$listed" ]; then
  echo "hack/fuzz.sh: the targets listed differ from the Fuzz functions in the repository:" >&2
  diff <(echo "$listed") <(echo "$found") >&2 || true
  exit 1
fi

for t in "${targets[@]}"; do
  IFS=: read -r pkg name budget <<<"$t"
  fuzztime=${FUZZTIME:-$budget}
  echo "== fuzz $name ($pkg, $fuzztime)"
  # -run '^$': only the fuzz target (its seeds and corpus run first);
  # -parallel 2: the CI machine's two cores.
  go test -count=1 -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -parallel 2 "$pkg"
done
