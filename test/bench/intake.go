package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/internal/testbed"
)

// intake: signed submissions per second and their p99, 8 clients, on
// SQLite and PostgreSQL. Each client submits to its own cluster record whose
// application is held by a job that hangs (the stand-in operator never
// reconciles it), so every submission is accepted and stays queued.
func (b *bench) intake(ctx context.Context) error {
	dbs := []string{"sqlite"}
	if !b.opts.noPostgres {
		dbs = append(dbs, "postgres")
	}
	for _, db := range dbs {
		if err := b.intakeOn(ctx, db); err != nil {
			b.add(row{Scenario: "intake, " + db, Figure: "signed submissions", NA: "failed: " + oneLine(err.Error())})
			b.progress("intake %s failed: %v", db, err)
		}
	}
	return nil
}

func (b *bench) intakeOn(ctx context.Context, db string) error {
	C, M := b.opts.intakeClients, b.opts.intakeJobs
	c, api := b.bed.Clusters[0], b.api[0]
	ns := "bench-intake"
	if err := api.ensureNamespace(ctx, ns, true); err != nil {
		return err
	}
	dir := filepath.Join(b.dir, "pushd-intake-"+db)
	dbURL := ""
	if db == "postgres" {
		pg, err := dbtest.NewServer()
		if err != nil {
			return err
		}
		defer pg.Close()
		dbURL = pg.URL()
	}
	p, err := newPushd("intake-"+db, b.bin, dir, dbURL, nil)
	if err != nil {
		return err
	}
	prefix := "i" + db[:2]
	var apps []string
	for i := range C {
		apps = append(apps, fmt.Sprintf("intake-%d", i))
	}
	first := prefix + "-0"
	b.progress("intake %s: registering %d cluster records (one bootstrapped credential, shared)", db, C)
	if _, err := p.cli(ctx, "clusters", "add", first, "--namespaces", ns, "--applications", strings.Join(apps, ",")); err != nil {
		return err
	}
	if _, err := p.cli(ctx, "clusters", "bootstrap", "--admin-kubeconfig", c.AdminKubeconfig, "--cluster", first, "--service-account-namespace", "pushd-"+prefix); err != nil {
		return err
	}
	for i := 1; i < C; i++ {
		if _, err := p.cli(ctx, "clusters", "add", fmt.Sprintf("%s-%d", prefix, i), "--namespaces", ns, "--applications", strings.Join(apps, ","),
			"--kubeconfig", filepath.Join(p.kubeDir, first+".kubeconfig")); err != nil {
			return err
		}
	}
	if err := p.start(ctx); err != nil {
		return err
	}
	defer p.stop()
	// One hanging job per record holds its application: what follows queues.
	for i := range C {
		cl, app := fmt.Sprintf("%s-%d", prefix, i), apps[i]
		j := newJob(cl+"-hold", cl, ns, app, []map[string]any{{
			"apiVersion": "vworkspace.io/v1alpha1", "kind": "Application",
			"metadata": map[string]any{"name": cl + "-hold", "namespace": ns,
				"annotations": map[string]any{"testbed.vworkspace.io/outcome": "hang"}},
			"spec": map[string]any{"chart": "bench"},
		}})
		j.TimeoutSeconds = 3600
		if err := p.submit(ctx, j); err != nil {
			return err
		}
	}
	body := func(cl, app string, k int) []byte {
		j := newJob(fmt.Sprintf("%s-%d-%s", cl, k, testbed.RandomHex(3)), cl, ns, app, configMaps(ns, app, 1, fmt.Sprintf("v%d", k)))
		data, _ := json.Marshal(j)
		return data
	}
	b.progress("intake %s: %d clients × %d signed submissions", db, C, M)
	lat := make([][]time.Duration, C)
	var wg sync.WaitGroup
	errs := make([]error, C)
	start := time.Now()
	for i := range C {
		wg.Go(func() {
			cl, app := fmt.Sprintf("%s-%d", prefix, i), apps[i]
			for k := range M {
				data := body(cl, app, k)
				t0 := time.Now()
				if _, err := p.write(ctx, http.MethodPost, "/api/v1/jobs", data, nil); err != nil {
					errs[i] = err
					return
				}
				lat[i] = append(lat[i], time.Since(t0))
			}
		})
	}
	wg.Wait()
	wall := time.Since(start)
	var all []time.Duration
	for i := range C {
		if errs[i] != nil {
			return errs[i]
		}
		all = append(all, lat[i]...)
	}
	rate := float64(len(all)) / secs(wall)
	p50, p99 := percentile(all, 50), percentile(all, 99)
	b.progress("intake %s: %.0f jobs/s, p50 %s, p99 %s", db, rate, p50, p99)
	scen := fmt.Sprintf("intake, %s, %d clients", db, C)
	target, met := "", (*bool)(nil)
	if db == "sqlite" {
		target, met = "≥ 1,000 jobs/s", boolp(rate >= 1000)
	}
	b.add(row{Scenario: scen, Figure: "signed submissions per second (202)", Value: num(rate), Unit: "jobs/s", Target: target, Met: met,
		Note: fmt.Sprintf("%d submissions", len(all))})
	if db == "sqlite" {
		target, met = "≤ 50 ms", boolp(ms(p99) <= 50)
	}
	b.add(row{Scenario: scen, Figure: "submission latency p99", Value: num(ms(p99)), Unit: "ms", Target: target, Met: met,
		Note: fmt.Sprintf("p50 %.1f ms", ms(p50))})
	return nil
}
