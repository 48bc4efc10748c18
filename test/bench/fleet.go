package main

import (
	"context"
	"fmt"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/vworkspace/pushd/internal/testbed"
)

// fleet: 3 clusters × J jobs × K objects at once, all up, then with the
// third cluster's API server frozen (SIGSTOP) until the healthy ones finish.
func (b *bench) fleet(ctx context.Context) error {
	if len(b.bed.Clusters) < 3 {
		return fmt.Errorf("needs 3 clusters")
	}
	J, K := b.opts.fleetJobs, b.opts.fleetObjects
	round := func(r int) []jobSpec {
		var jobs []jobSpec
		for _, c := range b.bed.Clusters[:3] {
			for i := range J {
				app := fmt.Sprintf("fleet-%d", i)
				jobs = append(jobs, newJob(fmt.Sprintf("%s-%s-r%d-%s", c.Name, app, r, testbed.RandomHex(3)), c.Name, "bench-fleet", app,
					configMaps("bench-fleet", app, K, fmt.Sprintf("round-%d", r))))
			}
		}
		return jobs
	}
	healthy := func(views map[string]jobView) []time.Duration {
		var ds []time.Duration
		for _, v := range views {
			if v.Cluster != b.bed.Clusters[2].Name && v.FinishedAt != nil {
				ds = append(ds, v.latency())
			}
		}
		return ds
	}
	// Both measured rounds then update existing objects.
	b.progress("fleet: warm-up round (creates the objects; not measured)")
	if _, _, err := b.runJobs(ctx, b.main, round(0), 5*time.Minute); err != nil {
		return err
	}
	b.progress("fleet: %d jobs × %d objects on each of 3 clusters at once, all up", J, K)
	jobs := round(1)
	start, views, err := b.runJobs(ctx, b.main, jobs, 5*time.Minute)
	if err != nil {
		return err
	}
	upWall := lastFinished(views).Sub(start)
	up := healthy(views)
	upP50, upP99 := percentile(up, 50), percentile(up, 99)
	b.progress("fleet: all up %.2fs; healthy p50 %s p99 %s", upWall.Seconds(), upP50, upP99)

	frozen := b.bed.Clusters[2]
	pid := frozen.Pid()
	b.progress("fleet: SIGSTOP %s's API server (pid %d), same load again", frozen.Name, pid)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		return err
	}
	resumed := false
	resume := func() {
		if !resumed {
			syscall.Kill(pid, syscall.SIGCONT)
			resumed = true
		}
	}
	defer resume()
	jobs = round(2)
	rid := "req-" + testbed.RandomHex(6)
	for i := range jobs {
		jobs[i].RequestID = rid
	}
	var healthyJobs, frozenJobs []jobSpec
	for _, j := range jobs {
		if j.Cluster == frozen.Name {
			frozenJobs = append(frozenJobs, j)
		} else {
			healthyJobs = append(healthyJobs, j)
		}
	}
	start = time.Now()
	var submitFrozen errgroup.Group
	submitFrozen.SetLimit(4)
	for _, j := range frozenJobs {
		submitFrozen.Go(func() error { return b.main.submit(ctx, j) }) // may wait on the frozen cluster
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for _, j := range healthyJobs {
		g.Go(func() error { return b.main.submit(gctx, j) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	var fviews map[string]jobView
	for {
		fviews, err = b.main.jobViews(wctx, healthyJobs)
		if err != nil {
			return err
		}
		done := 0
		for _, v := range fviews {
			if v.terminal() {
				done++
			}
		}
		if done == len(healthyJobs) {
			break
		}
		select {
		case <-wctx.Done():
			return fmt.Errorf("healthy clusters' jobs not done with one cluster frozen: %w", wctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
	frWall := lastFinished(fviews).Sub(start)
	fr := healthy(fviews)
	frP50, frP99 := percentile(fr, 50), percentile(fr, 99)
	b.progress("fleet: frozen: healthy done in %.2fs; p50 %s p99 %s; SIGCONT", frWall.Seconds(), frP50, frP99)
	resume()
	resumedAt := time.Now()
	submitErr := submitFrozen.Wait()
	recovered := "n/a"
	if submitErr == nil {
		if err := b.main.waitRequest(wctx, rid, len(jobs)); err == nil {
			recovered = fmt.Sprintf("%.1f s after SIGCONT", time.Since(resumedAt).Seconds())
		}
	}
	scen := fmt.Sprintf("3 clusters × %d jobs × %d objects at once", J, K)
	b.add(row{Scenario: scen, Figure: "jobs per second, all up", Value: num(float64(len(jobs)) / secs(upWall)), Unit: "jobs/s"})
	b.add(row{Scenario: scen, Figure: "created → finished p99, clusters 1–2, all up", Value: num(ms(upP99)), Unit: "ms",
		Note: fmt.Sprintf("p50 %.0f ms; value is p99", ms(upP50))})
	b.add(row{Scenario: scen + ", third frozen (SIGSTOP)", Figure: "jobs per second, healthy clusters", Value: num(float64(len(healthyJobs)) / secs(frWall)), Unit: "jobs/s"})
	b.add(row{Scenario: scen + ", third frozen (SIGSTOP)", Figure: "healthy clusters' p99 (p50)", Value: num(ms(frP99)), Unit: "ms",
		Compare: fmt.Sprintf("all up p99 %.0f ms (p50 %.0f → %.0f ms)", ms(upP99), ms(upP50), ms(frP50)), Ratio: num(ms(frP99) / ms(upP99)),
		Target: "p99 changes ≤ 10 %", Met: boolp(ms(frP99) <= 1.10*ms(upP99)),
		Note: "frozen cluster's jobs finished " + recovered})
	return nil
}
