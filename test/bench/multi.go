package main

import (
	"context"
	"fmt"
	"time"

	"github.com/vworkspace/pushd/internal/testbed"
)

// multi: A applications × M objects at once on one cluster.
func (b *bench) multi(ctx context.Context) error {
	A, M := b.opts.multiApps, b.opts.multiObjects
	c, api := b.bed.Clusters[0], b.api[0]
	for _, ns := range []string{"bench-multi-kubectl", "bench-multi-raw"} {
		if err := api.ensureNamespace(ctx, ns, false); err != nil {
			return err
		}
	}
	var batches [][]map[string]any
	var all []map[string]any
	for i := range A {
		batches = append(batches, configMaps("bench-multi-kubectl", fmt.Sprintf("app%d", i), M, "v1"))
		all = append(all, configMaps("bench-multi-raw", fmt.Sprintf("app%d", i), M, "v1")...)
	}
	b.progress("multi: %d kubectl processes at once, %d objects each", A, M)
	kd, err := kubectlApply(ctx, c, b.dir, batches)
	if err != nil {
		return err
	}
	b.progress("multi: raw SSA loop over %d objects, 8 in parallel", A*M)
	rd, _, err := rawSSA(ctx, c, all, 8)
	if err != nil {
		return err
	}
	var jobs []jobSpec
	for i := range A {
		app := fmt.Sprintf("multi-%d", i)
		jobs = append(jobs, newJob(app+"-"+testbed.RandomHex(4), c.Name, "bench-multi", app, configMaps("bench-multi", app, M, "v1")))
	}
	b.progress("multi: %d pushd jobs at once", A)
	cnt := api.begin(ctx)
	start, views, err := b.runJobs(ctx, b.main, jobs, 5*time.Minute)
	if err != nil {
		return err
	}
	pd := lastFinished(views).Sub(start)
	preq := cnt.end(ctx)
	b.progress("multi: pushd %.2fs (kubectl %.2fs, raw %.2fs)", pd.Seconds(), kd.Seconds(), rd.Seconds())
	scen := fmt.Sprintf("%d applications × %d objects at once, one cluster", A, M)
	b.add(row{Scenario: scen, Figure: "first POST → last succeeded", Value: num(secs(pd)), Unit: "s",
		Compare: fmt.Sprintf("raw SSA loop, 8 in parallel %.2f s", rd.Seconds()), Ratio: num(secs(pd) / secs(rd)),
		Target: "≤ 1.5 × raw loop", Met: boolp(secs(pd) <= 1.5*secs(rd))})
	b.add(row{Scenario: scen, Figure: "first POST → last succeeded", Value: num(secs(pd)), Unit: "s",
		Compare: fmt.Sprintf("%d kubectl apply --server-side at once %.2f s", A, kd.Seconds()), Ratio: num(secs(pd) / secs(kd))})
	b.add(row{Scenario: scen, Figure: "API requests per object", Value: num(preq / float64(A*M)), Unit: "req/obj"})
	return nil
}
