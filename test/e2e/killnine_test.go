package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vworkspace/pushd/internal/blackbox"
	"github.com/vworkspace/pushd/internal/dbtest"
)

// TestKillNineLosesNothing submits jobs to a real pushd process, kills it
// with SIGKILL while they run, and starts it again on the same database:
// every acknowledged job reaches a terminal state exactly once, and every
// status change reaches the callback receiver, duplicates only as retries
// with the same webhook-id.
func TestKillNineLosesNothing(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		c := suite.Bed.Clusters[0]
		ns := managedNamespace(t, c)
		recv := blackbox.Receiver(t)
		env := blackbox.Env(t, db, recv, "PUSHD_LOG_LEVEL=debug")
		addr := blackbox.Addr(t)
		d := startDaemon(t, addr, env)
		defer func() { d.Stop() }()
		d.enroll(t, "edge", c, ns, "app-0", "app-1", "app-2")

		// Three applications, three jobs each; every Application takes a
		// second to become Ready, so jobs are mid-flight when pushd dies.
		var ids []string
		for round := range 3 {
			for a := range 3 {
				id := fmt.Sprintf("kill-%s-%d-%d", db.Driver, a, round)
				if code, b := d.write(t, http.MethodPost, "/api/v1/jobs", applicationJob(id, "edge", ns, fmt.Sprintf("app-%d", a), round)); code != 202 {
					t.Fatalf("submit %s: %d %s", id, code, b)
				}
				ids = append(ids, id)
			}
		}
		// Kill as soon as a job runs.
		waitFor(t, 30*time.Second, "a job running", func() (string, bool) {
			for _, id := range ids {
				if st, _ := d.job(t, id); st == "running" {
					return id, true
				}
			}
			return d.Log.String(), false
		})
		d.Kill9()
		t.Logf("killed pushd with jobs running")
		d = startDaemon(t, addr, env)

		for _, id := range ids {
			st := waitFor(t, 3*time.Minute, "job "+id+" terminal", func() (string, bool) {
				st, err := d.job(t, id)
				return st, err == nil && terminal(st)
			})
			if st != "succeeded" {
				t.Errorf("job %s ended %s", id, st)
			}
		}
		// Every terminal event reaches the receiver once per job (retries
		// keep their webhook-id). Within two minutes: on PostgreSQL an event
		// the killed process was sending waits out its delivery lease (a
		// minute), and the cluster's later events with it.
		seq := waitFor(t, 2*time.Minute, "every job's queued and succeeded callbacks", func() (map[string][]string, bool) {
			seq, byID := jobEvents(recv)
			for _, id := range ids {
				if len(byID[id+"/succeeded"]) == 0 || len(byID[id+"/queued"]) == 0 {
					return seq, false
				}
			}
			return seq, true
		})
		_, byID := jobEvents(recv)
		for _, id := range ids {
			if n := len(byID[id+"/succeeded"]); n != 1 {
				t.Errorf("job %s: %d distinct succeeded events (webhook-ids %v), want exactly 1", id, n, byID[id+"/succeeded"])
			}
			s := seq[id]
			if s[0] != "queued" || s[len(s)-1] != "succeeded" {
				t.Errorf("job %s: callbacks %v, want queued … succeeded", id, s)
			}
		}
		metrics := d.read(t, "/metrics")
		if !strings.Contains(string(metrics), `pushd_jobs_finished_total{action="apply",cluster="edge",code="",status="succeeded"}`) {
			t.Errorf("/metrics does not count the finished jobs")
		}
		if n := recv.BadSignatures(); n > 0 {
			t.Errorf("%d callbacks with bad signatures", n)
		}
		if strings.Contains(d.Log.String(), c.AdminToken) {
			t.Error("the credential reached pushd's log")
		}
	})
}
