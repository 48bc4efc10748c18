#!/usr/bin/env bash
# Runs every fuzz target for a bounded time each (FUZZTIME, default 20s),
# starting from its committed corpus (testdata/fuzz/<Target>) and seeds.
# A failing input is written to testdata/fuzz/<Target>/ by go test: commit
# it with the fix, so it stays a regression test in every plain `go test`.
#
#   ./hack/fuzz.sh                 # every target, 20 s each
#   FUZZTIME=2m ./hack/fuzz.sh     # longer
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime=${FUZZTIME:-20s}
# package:target, one per fuzz target in the repository.
targets=(
  ./pkg/webhook:FuzzVerify
  ./pkg/jobs:FuzzIntake
  ./pkg/clusters:FuzzParseKubeconfig
  ./pkg/cronspec:FuzzParse
)

# Every target is listed: a new Fuzz function not added above fails here.
found=$(grep -rhoE '^func (Fuzz[A-Za-z0-9_]+)' --include='*_test.go' pkg internal cmd | sort)
listed=$(printf '%s\n' "${targets[@]}" | sed 's/.*://; s/^/func /' | sort)
if [ "$found" != "$listed" ]; then
  echo "hack/fuzz.sh: the targets listed differ from the Fuzz functions in the repository:" >&2
  diff <(echo "$listed") <(echo "$found") >&2 || true
  exit 1
fi

for t in "${targets[@]}"; do
  pkg=${t%%:*} name=${t##*:}
  echo "== fuzz $name ($pkg, $fuzztime)"
  # -run '^$': only the fuzz target (its seeds and corpus run first);
  # -parallel 2: the CI machine's two cores.
  go test -count=1 -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -parallel 2 "$pkg"
done
