package fault

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"github.com/vworkspace/pushd/internal/contracttest"
	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/internal/faultcheck"
	"github.com/vworkspace/pushd/pkg/config"
)

// TestPostgresRestart stops pushd's PostgreSQL for a few seconds while jobs
// flow and starts it again: pushd keeps running, reports not ready and
// answers intake 503 database_unavailable meanwhile (a job it answered so
// is not stored), and after the database is back everything acknowledged
// finishes; the checker passes.
func TestPostgresRestart(t *testing.T) {
	s := seed(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	srv := dbtest.OwnPostgres(t)
	r := newRun(t, srv.Database(t), suite.Bed.Clusters)
	stop := r.stream(rand.New(rand.NewPCG(s, 1)), streamOptions{prefix: "pg", every: 200 * time.Millisecond, delay: 500 * time.Millisecond})
	time.Sleep(2 * time.Second)

	srv.Stop()
	t.Log("PostgreSQL stopped")
	ready := r.get(ctx, "/readyz")
	if ready.Status != http.StatusServiceUnavailable {
		t.Errorf("/readyz during the outage: %d %s, want 503", ready.Status, ready.Body)
	}
	spec := jobSpec{id: "during-outage", cluster: "fault-1", app: "app-0", delay: time.Second, timeout: 60}
	resp, err := r.client.Write(ctx, http.MethodPost, "/api/v1/jobs", r.newMessageID(), spec.body(r.ns))
	if err != nil {
		t.Fatalf("submit during the outage: %v", err)
	}
	contracttest.Check(t, resp.Request, resp.Status, resp.Header, resp.Body)
	var answer struct{ Error struct{ Code string } }
	json.Unmarshal(resp.Body, &answer)
	if resp.Status != http.StatusServiceUnavailable || answer.Error.Code != "database_unavailable" || resp.Header.Get("Retry-After") == "" {
		t.Errorf("submit during the outage: %d %s (Retry-After %q), want 503 database_unavailable", resp.Status, resp.Body, resp.Header.Get("Retry-After"))
	}
	r.mu.Lock()
	r.refused = append(r.refused, faultcheck.JobRef{Organization: config.DefaultOrganization, ID: spec.id})
	r.mu.Unlock()
	time.Sleep(3 * time.Second)
	select {
	case <-r.proc.Exited():
		t.Fatal("pushd exited during the database outage")
	default:
	}

	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Log("PostgreSQL started again")
	for r.get(ctx, "/readyz").Status != http.StatusOK {
		select {
		case <-ctx.Done():
			t.Fatal("pushd never ready again after the database came back")
		case <-time.After(100 * time.Millisecond):
		}
	}
	time.Sleep(2 * time.Second) // jobs flow again before the stream stops
	t.Logf("%d jobs submitted", stop())
	r.finalJobs(ctx, "final", 100*time.Millisecond)
	for id, st := range r.waitTerminal(ctx) {
		if st != "succeeded" && st != "cancelled" {
			t.Errorf("job %s ended %s: an outage of the database is no reason to fail", id, st)
		}
	}
	r.drain(ctx)
	r.check(ctx)
}
