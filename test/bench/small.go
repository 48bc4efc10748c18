package main

import (
	"context"
	"fmt"
	"time"

	"github.com/vworkspace/pushd/internal/testbed"
)

// small: one-ConfigMap jobs, one after another, then many at once.
func (b *bench) small(ctx context.Context) error {
	c := b.bed.Clusters[0]
	N := b.opts.smallSeq
	b.progress("small: %d one-object jobs one after another", N)
	var seq []time.Duration
	for i := range N {
		app := fmt.Sprintf("seq-%d", i)
		id := app + "-" + testbed.RandomHex(4)
		if err := b.main.submit(ctx, newJob(id, c.Name, "bench-small", app, configMaps("bench-small", app, 1, "v1"))); err != nil {
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		j, err := b.main.waitJob(wctx, id, 10*time.Millisecond)
		cancel()
		if err != nil {
			return err
		}
		seq = append(seq, j.latency())
	}
	B := b.opts.smallBurst
	b.progress("small: %d one-object jobs at once", B)
	var jobs []jobSpec
	for i := range B {
		app := fmt.Sprintf("burst-%d", i)
		jobs = append(jobs, newJob(app+"-"+testbed.RandomHex(4), c.Name, "bench-small", app, configMaps("bench-small", app, 1, "v1")))
	}
	_, views, err := b.runJobs(ctx, b.main, jobs, 5*time.Minute)
	if err != nil {
		return err
	}
	var burst []time.Duration
	for _, v := range views {
		burst = append(burst, v.latency())
	}
	for _, s := range []struct {
		name string
		ds   []time.Duration
	}{{fmt.Sprintf("%d one after another", N), seq}, {fmt.Sprintf("%d at once", B), burst}} {
		p50, p99 := percentile(s.ds, 50), percentile(s.ds, 99)
		b.add(row{Scenario: "small jobs (1 ConfigMap), " + s.name, Figure: "created → finished p99", Value: num(ms(p99)), Unit: "ms",
			Note: fmt.Sprintf("p50 %.0f ms", ms(p50)), Target: "p99 ≤ 250 ms", Met: boolp(ms(p99) <= 250)})
	}
	return nil
}
