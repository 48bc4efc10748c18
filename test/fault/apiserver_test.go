package fault

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/internal/testbed"
)

// TestAPIServerRestartMidJob stops a cluster's API server while a job waits
// for its Application to become Ready, and starts it again on the same
// address and data. Within the job's deadline it succeeds: its wait
// outlives the outage, and a second job, claimed while the server is down,
// fails its first writes and is retried until the server is back. Past the
// deadline the job fails with a code that says why. Either way nothing is
// half-recorded: the checker passes.
func TestAPIServerRestartMidJob(t *testing.T) {
	c := suite.Bed.Clusters[1]
	for _, tc := range []struct {
		name string
		// timeout is the job's timeout_seconds; the API server is down for
		// down plus the time it takes to start again (seconds).
		timeout int
		down    time.Duration
		// want is the job's status; codes, when it failed, the error codes
		// that tell an outage.
		want  string
		codes []string
		// second submits another job (another application) while the
		// server is down: claimed at once, it must retry.
		second bool
	}{
		{name: "retried within the deadline", timeout: 180, down: 2 * time.Second, want: "succeeded", second: true},
		{name: "deadline passed", timeout: 8, down: 8 * time.Second, want: "failed", codes: []string{"timeout", "cluster_unreachable"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			defer cancel()
			r := newRun(t, dbtest.Database{Driver: "sqlite", DSN: filepath.Join(t.TempDir(), "pushd.db")}, []*testbed.Cluster{c})
			spec := jobSpec{id: "mid-job", cluster: "fault-1", app: "app-0", delay: 3 * time.Second, timeout: tc.timeout, extra: true}
			if code := r.submit(ctx, spec); code != http.StatusAccepted {
				t.Fatalf("submit: %d", code)
			}
			for st, _ := r.client.JobStatus(ctx, spec.id); st != "running"; st, _ = r.client.JobStatus(ctx, spec.id) {
				if st != "queued" {
					t.Fatalf("job %s before the outage, want running", st)
				}
				time.Sleep(50 * time.Millisecond)
			}
			time.Sleep(500 * time.Millisecond) // its objects are written; kstatus waits
			if err := c.Stop(); err != nil {
				t.Fatal(err)
			}
			stopped := time.Now()
			second := jobSpec{id: "during-outage", cluster: "fault-1", app: "app-1", delay: 100 * time.Millisecond, timeout: tc.timeout}
			if tc.second {
				if code := r.submit(ctx, second); code != http.StatusAccepted {
					t.Fatalf("submit during the outage: %d", code)
				}
			}
			time.Sleep(tc.down)
			if err := c.Start(ctx); err != nil {
				t.Fatal(err)
			}
			t.Logf("API server of %s back after %s", c.Name, time.Since(stopped).Round(100*time.Millisecond))

			r.waitTerminal(ctx)
			job := r.jobOf(ctx, spec.id)
			if job.Status != tc.want {
				t.Fatalf("job %+v, want %s", job, tc.want)
			}
			if tc.codes != nil {
				if job.Error == nil || !contains(tc.codes, job.Error.Code) || job.Error.Message == "" {
					t.Errorf("job failed with %+v, want one of %v and a message", job.Error, tc.codes)
				}
			}
			if tc.second {
				if job := r.jobOf(ctx, second.id); job.Status != "succeeded" || len(job.Retries) == 0 {
					t.Errorf("job claimed during the outage: %+v, want succeeded after retries", job)
				}
			}
			r.drain(ctx)
			r.check(ctx)
		})
	}
}

// jobView is what the suite reads of a job.
type jobView struct {
	Status  string
	Error   *struct{ Code, Message string }
	Retries []struct{ Error string }
}

// jobOf reads a job through the API and logs it.
func (r *run) jobOf(ctx context.Context, id string) jobView {
	r.t.Helper()
	resp := r.get(ctx, "/api/v1/jobs/"+id)
	var job jobView
	if err := json.Unmarshal(resp.Body, &job); err != nil {
		r.t.Fatalf("job %s: %d %s", id, resp.Status, resp.Body)
	}
	r.t.Logf("job %s: %s, %d retries, error %+v", id, job.Status, len(job.Retries), job.Error)
	return job
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
