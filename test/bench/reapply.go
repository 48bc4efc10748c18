package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/vworkspace/pushd/internal/testbed"
)

// reapply: single's job again, unchanged, against pushd's first apply and
// the baselines' unchanged re-apply (single runs first: --only reapply
// selects it).
func (b *bench) reapply(ctx context.Context) error {
	f := b.first
	if f == nil {
		return errors.New("no first apply: scenario single did not finish")
	}
	n, pd := len(f.objs), f.took
	b.progress("reapply: the same job again, unchanged")
	ud, uwrites, ureq, err := b.timedJob(ctx, b.api[0], "reapply-"+testbed.RandomHex(4), f.objs)
	if err != nil {
		return err
	}
	b.progress("reapply: pushd %.2fs, %.2f requests/object, %.2f writes/object", ud.Seconds(), ureq/float64(n), uwrites/float64(n))
	scen := fmt.Sprintf("unchanged re-apply of the %d", n)
	b.add(row{Scenario: scen, Figure: "signed POST → succeeded", Value: num(secs(ud)), Unit: "s",
		Compare: fmt.Sprintf("pushd's first apply %.2f s (kubectl re-apply %.2f s, raw loop %.2f s)", pd.Seconds(), f.kubectl.Seconds(), f.raw.Seconds()),
		Ratio:   num(secs(ud) / secs(pd)), Target: "≤ 0.25 × first apply", Met: boolp(secs(ud) <= 0.25*secs(pd))})
	b.add(row{Scenario: scen, Figure: "API requests per object", Value: num(ureq / float64(n)), Unit: "req/obj",
		Compare: fmt.Sprintf("kubectl re-apply %.2f", f.kubectlRequests/float64(n)),
		Target:  "≤ 1.2", Met: boolp(ureq/float64(n) <= 1.2)})
	b.add(row{Scenario: scen, Figure: "API writes per object", Value: num(uwrites / float64(n)), Unit: "writes/obj",
		Target: "0 (the dry-runs find nothing to change)", Met: boolp(uwrites == 0),
		Note: "apiserver_request_total of mutating verbs without dryRun, leases and access reviews left out"})
	return nil
}
