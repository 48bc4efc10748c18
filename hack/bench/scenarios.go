package main

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/vworkspace/pushd/internal/testbed"
)

// Namespaces and applications of the job pushd (the "main" instance).
var mainNamespaces = []string{"bench-single", "bench-multi", "bench-fleet", "bench-small", "bench-drift"}

func (b *bench) mainApplications() []string {
	apps := []string{"single"}
	for i := range b.opts.multiApps {
		apps = append(apps, fmt.Sprintf("multi-%d", i))
	}
	for i := range b.opts.fleetJobs {
		apps = append(apps, fmt.Sprintf("fleet-%d", i))
	}
	for i := range b.opts.smallSeq {
		apps = append(apps, fmt.Sprintf("seq-%d", i))
	}
	for i := range b.opts.smallBurst {
		apps = append(apps, fmt.Sprintf("burst-%d", i))
	}
	for i := range driftApps {
		apps = append(apps, fmt.Sprintf("drift-%d", i))
	}
	return apps
}

const driftApps = 4

// startMain registers every test-bed cluster with the CLI, as the README's
// quick start does, and starts `pushd serve` with the defaults except the
// status interval (1h, so that an on-demand drift check is the only thing
// that advances an application's checked_at).
func (b *bench) startMain(ctx context.Context) error {
	b.progress("main pushd: registering %d clusters with `pushd clusters add` and `pushd clusters bootstrap`", len(b.bed.Clusters))
	p, err := newPushd("main", b.bin, filepath.Join(b.dir, "pushd-main"), "", []string{"--status-interval", "1h"}, b.progress)
	if err != nil {
		return err
	}
	apps := strings.Join(b.mainApplications(), ",")
	for i, c := range b.bed.Clusters {
		for _, ns := range mainNamespaces {
			if err := b.api[i].ensureNamespace(ctx, ns, true); err != nil {
				return err
			}
		}
		if _, err := p.cli(ctx, "clusters", "add", c.Name, "--namespaces", strings.Join(mainNamespaces, ","), "--applications", apps); err != nil {
			return err
		}
		if _, err := p.cli(ctx, "clusters", "bootstrap", "--admin-kubeconfig", c.AdminKubeconfig, "--cluster", c.Name); err != nil {
			return err
		}
	}
	if err := p.start(ctx); err != nil {
		return err
	}
	b.main = p
	b.progress("main pushd ready on %s", p.base)
	return nil
}

// runJobs submits jobs at once (one goroutine each) and waits until every one
// ends, polling GET /api/v1/requests/{request_id}; it returns the submit
// start and each job's record.
func (b *bench) runJobs(ctx context.Context, p *pushd, jobs []jobSpec, timeout time.Duration) (time.Time, map[string]jobView, error) {
	rid := "req-" + testbed.RandomHex(6)
	for i := range jobs {
		jobs[i].RequestID = rid
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for _, j := range jobs {
		g.Go(func() error { return p.submit(gctx, j) })
	}
	if err := g.Wait(); err != nil {
		return start, nil, err
	}
	if err := p.waitRequest(ctx, rid, len(jobs)); err != nil {
		return start, nil, err
	}
	out, err := p.jobViews(ctx, jobs)
	return start, out, err
}

// jobPage is one page of GET /api/v1/jobs.
type jobPage struct {
	Items []struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	} `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

// waitRequest polls until n jobs of the request ended. It lists the jobs
// (GET /api/v1/jobs?request_id=): the request's fleet view shows one entry
// per cluster and application (its newest job), and a request may hold
// several jobs of one application.
func (p *pushd) waitRequest(ctx context.Context, rid string, n int) error {
	for {
		counts := map[string]int{}
		path := "/api/v1/jobs?limit=500&request_id=" + url.QueryEscape(rid)
		for next := path; next != ""; {
			var page jobPage
			if _, err := p.read(ctx, next, &page); err != nil {
				return err
			}
			for _, j := range page.Items {
				counts[j.Status]++
			}
			next = ""
			if page.NextCursor != nil {
				next = path + "&cursor=" + url.QueryEscape(*page.NextCursor)
			}
		}
		done := counts["succeeded"] + counts["failed"] + counts["cancelled"]
		if done >= n {
			if counts["succeeded"] < n {
				return fmt.Errorf("request %s: %v", rid, counts)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("request %s: %v: %w", rid, counts, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (p *pushd) jobViews(ctx context.Context, jobs []jobSpec) (map[string]jobView, error) {
	out := map[string]jobView{}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, j := range jobs {
		g.Go(func() error {
			var v jobView
			if _, err := p.read(gctx, "/api/v1/jobs/"+j.ID, &v); err != nil {
				return err
			}
			mu.Lock()
			out[j.ID] = v
			mu.Unlock()
			return nil
		})
	}
	return out, g.Wait()
}

// lastFinished is the latest finished_at of the jobs.
func lastFinished(views map[string]jobView) time.Time {
	var t time.Time
	for _, v := range views {
		if v.FinishedAt != nil && v.FinishedAt.After(t) {
			t = *v.FinishedAt
		}
	}
	return t
}

// single: one job of N ConfigMaps end to end vs kubectl vs the raw loop, then
// the same job unchanged.
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
	cnt = api.begin(ctx)
	start := time.Now()
	id := "single-" + testbed.RandomHex(4)
	if err := b.main.submit(ctx, newJob(id, c.Name, "bench-single", "single", objs)); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	j, err := b.main.waitJob(wctx, id, 50*time.Millisecond)
	cancel()
	if err != nil {
		return err
	}
	pd := j.FinishedAt.Sub(start)
	pwrites := cnt.writesSince(ctx)
	preq := cnt.end(ctx)
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

	if !b.opts.only["reapply"] {
		return nil
	}
	b.progress("reapply: the same job again, unchanged")
	cnt = api.begin(ctx)
	start = time.Now()
	id = "reapply-" + testbed.RandomHex(4)
	if err := b.main.submit(ctx, newJob(id, c.Name, "bench-single", "single", objs)); err != nil {
		return err
	}
	wctx, cancel = context.WithTimeout(ctx, 5*time.Minute)
	j, err = b.main.waitJob(wctx, id, 50*time.Millisecond)
	cancel()
	if err != nil {
		return err
	}
	ud := j.FinishedAt.Sub(start)
	uwrites := cnt.writesSince(ctx)
	ureq := cnt.end(ctx)
	b.progress("reapply: pushd %.2fs, %.2f requests/object, %.2f writes/object", ud.Seconds(), ureq/float64(n), uwrites/float64(n))
	scen = fmt.Sprintf("unchanged re-apply of the %d", n)
	b.add(row{Scenario: scen, Figure: "signed POST → succeeded", Value: num(secs(ud)), Unit: "s",
		Compare: fmt.Sprintf("pushd's first apply %.2f s (kubectl re-apply %.2f s, raw loop %.2f s)", pd.Seconds(), kd2.Seconds(), rd2.Seconds()),
		Ratio:   num(secs(ud) / secs(pd)), Target: "≤ 0.25 × first apply", Met: boolp(secs(ud) <= 0.25*secs(pd))})
	b.add(row{Scenario: scen, Figure: "API requests per object", Value: num(ureq / float64(n)), Unit: "req/obj",
		Compare: fmt.Sprintf("kubectl re-apply %.2f", kreq2/float64(n)),
		Target:  "≤ 1.2", Met: boolp(ureq/float64(n) <= 1.2)})
	b.add(row{Scenario: scen, Figure: "API writes per object", Value: num(uwrites / float64(n)), Unit: "writes/obj",
		Target: "0 (the dry-runs find nothing to change)", Met: boolp(uwrites == 0),
		Note: "apiserver_request_total of mutating verbs without dryRun, leases and access reviews left out"})
	return nil
}

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
