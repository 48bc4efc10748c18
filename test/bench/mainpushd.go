package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
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

// driftCluster is where drift applies its objects and poll then polls
// them: the bed's last cluster.
func (b *bench) driftCluster() (*testbed.Cluster, *apiServer) {
	k := len(b.bed.Clusters) - 1
	return b.bed.Clusters[k], b.api[k]
}

// startMain registers every test-bed cluster with the CLI, as the README's
// quick start does, and starts `pushd serve` with the defaults except the
// status interval (1h, so that an on-demand drift check is the only thing
// that advances an application's checked_at).
func (b *bench) startMain(ctx context.Context) error {
	b.progress("main pushd: registering %d clusters with `pushd clusters add` and `pushd clusters bootstrap`", len(b.bed.Clusters))
	p, err := newPushd("main", b.bin, filepath.Join(b.dir, "pushd-main"), "", []string{"--status-interval", "1h"})
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
