package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/vworkspace/pushd/internal/testbed"
)

// drift: an on-demand drift check of a cluster holding D objects in sync
// (POST /api/v1/clusters/{id}/drift-checks, then every application's
// checked_at passes the answer's requested_at).
func (b *bench) drift(ctx context.Context) error {
	c, api := b.driftCluster()
	D := b.opts.driftObjects
	per := (D + driftApps - 1) / driftApps
	var jobs []jobSpec
	for i := range driftApps {
		app := fmt.Sprintf("drift-%d", i)
		jobs = append(jobs, newJob(app+"-"+testbed.RandomHex(4), c.Name, "bench-drift", app, configMaps("bench-drift", app, per, "v1")))
	}
	b.progress("drift: applying %d objects in %d applications on %s", per*driftApps, driftApps, c.Name)
	if _, _, err := b.runJobs(ctx, b.main, jobs, 10*time.Minute); err != nil {
		return err
	}
	// What one listing of the applications costs the API server, to take it
	// out of the drift check's count (the benchmark polls that listing).
	cnt := api.begin(ctx)
	apps, err := b.main.applications(ctx, c.Name)
	if err != nil {
		return err
	}
	listCost := cnt.end(ctx)
	total := 0
	for _, a := range apps {
		total += a.Objects
	}
	b.progress("drift: %s holds %d applications, %d objects; one listing costs %.0f requests", c.Name, len(apps), total, listCost)

	cnt = api.begin(ctx)
	start := time.Now()
	var ans struct {
		RequestedAt time.Time `json:"requested_at"`
	}
	if _, err := b.main.write(ctx, http.MethodPost, "/api/v1/clusters/"+c.Name+"/drift-checks", []byte("{}"), &ans); err != nil {
		return err
	}
	polls := 0
	var end time.Time
	wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	for {
		time.Sleep(100 * time.Millisecond)
		apps, err := b.main.applications(wctx, c.Name)
		polls++
		if err != nil {
			return err
		}
		done, drifted := true, 0
		var last time.Time
		for _, a := range apps {
			if a.CheckedAt == nil || a.CheckedAt.Before(ans.RequestedAt) {
				done = false
				break
			}
			if a.CheckedAt.After(last) {
				last = *a.CheckedAt
			}
			if a.Drift == "drifted" {
				drifted++
			}
		}
		if done && len(apps) > 0 {
			end = last
			if drifted > 0 {
				b.progress("drift: %d applications reported drifted", drifted)
			}
			break
		}
		if wctx.Err() != nil {
			return fmt.Errorf("drift check did not reach every application: %w", wctx.Err())
		}
	}
	dd := end.Sub(start)
	if dd <= 0 {
		dd = time.Since(start) // clocks are the same machine's; guard anyway
	}
	req := cnt.end(ctx) - float64(polls)*listCost
	if req < 0 {
		req = 0
	}
	per1000 := 1000 / float64(total)
	b.progress("drift: %.2fs, %.0f requests for %d objects", dd.Seconds(), req, total)
	scen := "drift check (on-demand endpoint), per 1,000 objects in sync"
	b.add(row{Scenario: scen, Figure: "POST drift-checks → every application checked", Value: num(secs(dd) * per1000), Unit: "s",
		Note: fmt.Sprintf("%d objects measured, scaled to 1,000", total)})
	b.add(row{Scenario: scen, Figure: "API requests", Value: num(req * per1000), Unit: "req",
		Note: fmt.Sprintf("%.0f requests for %d objects; includes probes in the window, minus the benchmark's own listings", req, total)})
	return nil
}
