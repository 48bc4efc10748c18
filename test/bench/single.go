package main

import (
	"context"
	"fmt"
	"time"

	"github.com/vworkspace/pushd/internal/testbed"
)

// single: one job of N ConfigMaps end to end vs kubectl vs the raw loop (and
// the baselines' unchanged re-apply, for reapply).
func (b *bench) single(ctx context.Context) error {
	n := b.opts.objects
	c, api := b.bed.Clusters[0], b.api[0]
	for _, ns := range []string{"bench-kubectl", "bench-raw"} {
		if err := api.ensureNamespace(ctx, ns, false); err != nil {
			return err
		}
	}
	// Baselines first, on their own namespaces of the same API server.
	b.progress("single: kubectl apply --server-side of %d ConfigMaps", n)
	cnt := api.begin(ctx)
	kd, err := kubectlApply(ctx, c, b.dir, [][]map[string]any{configMaps("bench-kubectl", "cm", n, "v1")})
	if err != nil {
		return err
	}
	kreq := cnt.end(ctx)
	b.progress("single: kubectl %.2fs, %.2f requests/object; re-apply unchanged", kd.Seconds(), kreq/float64(n))
	cnt = api.begin(ctx)
	kd2, err := kubectlApply(ctx, c, b.dir, [][]map[string]any{configMaps("bench-kubectl", "cm", n, "v1")})
	if err != nil {
		return err
	}
	kreq2 := cnt.end(ctx)
	b.progress("single: raw SSA loop, 8 in parallel")
	cnt = api.begin(ctx)
	rd, rreq, err := rawSSA(ctx, c, configMaps("bench-raw", "cm", n, "v1"), 8)
	if err != nil {
		return err
	}
	cnt.end(ctx)
	rd2, _, err := rawSSA(ctx, c, configMaps("bench-raw", "cm", n, "v1"), 8)
	if err != nil {
		return err
	}

	b.progress("single: pushd job of %d ConfigMaps (signed POST → succeeded)", n)
	objs := configMaps("bench-single", "cm", n, "v1")
	pd, pwrites, preq, err := b.timedJob(ctx, api, "single-"+testbed.RandomHex(4), objs)
	if err != nil {
		return err
	}
	b.first = &firstApply{objs: objs, took: pd, kubectl: kd2, kubectlRequests: kreq2, raw: rd2}
	b.progress("single: pushd %.2fs, %.2f requests/object, %.2f writes/object", pd.Seconds(), preq/float64(n), pwrites/float64(n))
	scen := fmt.Sprintf("one job of %d ConfigMaps", n)
	b.add(row{Scenario: scen, Figure: "signed POST → succeeded", Value: num(secs(pd)), Unit: "s",
		Compare: fmt.Sprintf("kubectl apply --server-side (one List) %.2f s", kd.Seconds()), Ratio: num(secs(pd) / secs(kd)),
		Target: "≤ 0.75 × kubectl", Met: boolp(secs(pd) <= 0.75*secs(kd))})
	b.add(row{Scenario: scen, Figure: "signed POST → succeeded", Value: num(secs(pd)), Unit: "s",
		Compare: fmt.Sprintf("raw SSA loop, 8 in parallel %.2f s", rd.Seconds()), Ratio: num(secs(pd) / secs(rd)),
		Target: "≤ 2 × raw loop", Met: boolp(secs(pd) <= 2*secs(rd))})
	b.add(row{Scenario: scen, Figure: "objects per second", Value: num(float64(n) / secs(pd)), Unit: "obj/s",
		Compare: fmt.Sprintf("kubectl %.0f obj/s; raw loop %.0f obj/s", float64(n)/secs(kd), float64(n)/secs(rd))})
	b.add(row{Scenario: scen, Figure: "API requests per object", Value: num(preq / float64(n)), Unit: "req/obj",
		Compare: fmt.Sprintf("kubectl %.2f; raw loop %.2f", kreq/float64(n), float64(rreq)/float64(n)),
		Note:    "apiserver_request_total delta; includes pushd's probes in the window"})
	return nil
}

// firstApply is what single measured that reapply compares with.
type firstApply struct {
	objs []map[string]any
	took time.Duration // pushd's first apply
	// kubectl and raw are the baselines' unchanged re-apply,
	// kubectlRequests kubectl's requests for it.
	kubectl, raw    time.Duration
	kubectlRequests float64
}

// timedJob submits a job of objs, as the application single of namespace
// bench-single, to the main pushd and waits until it succeeded: the time
// from the signed POST to its finished_at, and the writes and requests the
// API server served meanwhile.
func (b *bench) timedJob(ctx context.Context, api *apiServer, id string, objs []map[string]any) (took time.Duration, writes, requests float64, err error) {
	cnt := api.begin(ctx)
	start := time.Now()
	if err := b.main.submit(ctx, newJob(id, api.c.Name, "bench-single", "single", objs)); err != nil {
		return 0, 0, 0, err
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	j, err := b.main.waitJob(wctx, id, 50*time.Millisecond)
	cancel()
	if err != nil {
		return 0, 0, 0, err
	}
	took = j.FinishedAt.Sub(start)
	writes = cnt.writesSince(ctx)
	return took, writes, cnt.end(ctx), nil
}
