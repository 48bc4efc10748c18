package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// poll: what one status poll costs the API server. Nothing triggers a poll
// from outside, so a pushd of its own polls the drift cluster every 2 s with
// probes pushed out to 1 h, and the requests over a window are divided by the
// polls that happened in it (from the applications' checked_at before and
// after, read outside the window). The poll's duration is not observable.
func (b *bench) poll(ctx context.Context) error {
	c, api := b.driftCluster()
	interval := 2 * time.Second
	p, err := newPushd("poll", b.bin, filepath.Join(b.dir, "pushd-poll"), "", []string{"--status-interval", interval.String(), "--probe-interval", "1h"})
	if err != nil {
		return err
	}
	if _, err := p.cli(ctx, "clusters", "add", c.Name, "--namespaces", strings.Join(mainNamespaces, ","), "--applications", strings.Join(b.mainApplications(), ","),
		"--kubeconfig", filepath.Join(b.main.kubeDir, c.Name+".kubeconfig")); err != nil {
		return err
	}
	if err := p.start(ctx); err != nil {
		return err
	}
	defer p.stop()
	newest := func() (time.Time, int, int, error) {
		apps, err := p.applications(ctx, c.Name)
		if err != nil {
			return time.Time{}, 0, 0, err
		}
		var t time.Time
		total := 0
		for _, a := range apps {
			total += a.Objects
			if a.CheckedAt != nil && a.CheckedAt.After(t) {
				t = *a.CheckedAt
			}
		}
		return t, total, len(apps), nil
	}
	time.Sleep(2 * interval)
	t0, total, napps, err := newest()
	if err != nil {
		return err
	}
	if total == 0 || t0.IsZero() {
		return fmt.Errorf("no polled application on %s (run with drift)", c.Name)
	}
	window := 20 * time.Second
	b.progress("poll: %s holds %d applications, %d objects; counting requests for %s of polls every %s", c.Name, napps, total, window, interval)
	cnt := api.begin(ctx)
	time.Sleep(window)
	req := cnt.end(ctx)
	t1, _, _, err := newest()
	if err != nil {
		return err
	}
	polls := (t1.Sub(t0) + interval/2) / interval
	if polls < 1 {
		return fmt.Errorf("no poll seen in %s", window)
	}
	perPoll := req / float64(polls)
	b.progress("poll: %d polls, %.0f requests: %.1f per poll", polls, req, perPoll)
	// Not scaled: a poll costs one LIST per kind and namespace, whatever the
	// number of objects.
	scen := fmt.Sprintf("status poll of %d objects (%d applications)", total, napps)
	b.add(row{Scenario: scen, Figure: "API requests per poll", Value: num(perPoll), Unit: "req",
		Note: fmt.Sprintf("%.2f per 1,000 objects; %d polls at --status-interval %s, probes off", perPoll*1000/float64(total), polls, interval)})
	b.add(row{Scenario: scen, Figure: "time per poll",
		NA: "no endpoint triggers a status poll and none reports its duration; only its requests are observable"})
	return nil
}
