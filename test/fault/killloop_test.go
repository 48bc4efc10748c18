package fault

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/vworkspace/pushd/internal/dbtest"
)

// TestKillLoop kills pushd with SIGKILL at random points, 50 times, while a
// stream of signed jobs (with operations, refusals and cancels) flows to two clusters,
// starting it again each time on the same SQLite file; then, after a final
// drain, the invariant checker holds the callbacks, the store and the
// clusters against pushd's promises; every operation ended once, with its
// outcome, and was created once.
func TestKillLoop(t *testing.T) {
	killLoop(t, dbtest.Database{Driver: "sqlite", DSN: filepath.Join(t.TempDir(), "pushd.db")}, 50)
}

// TestKillLoopPostgres is a shorter kill loop on PostgreSQL.
func TestKillLoopPostgres(t *testing.T) {
	killLoop(t, dbtest.Postgres(t), 15)
}

func killLoop(t *testing.T, db dbtest.Database, kills int) {
	s := seed(t)
	jobsRNG, killRNG := rand.New(rand.NewPCG(s, 1)), rand.New(rand.NewPCG(s, 2))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	r := newRun(t, db, suite.Bed.Clusters)
	stop := r.stream(jobsRNG, streamOptions{prefix: "k", every: 300 * time.Millisecond, delay: 300 * time.Millisecond})
	start := time.Now()
	for i := range kills {
		time.Sleep(time.Duration(100+killRNG.IntN(1400)) * time.Millisecond)
		r.kill9()
		r.start()
		if t.Failed() {
			t.Fatalf("failed after kill %d", i+1)
		}
	}
	submitted := stop()
	t.Logf("%d kills in %s; %d jobs submitted", kills, time.Since(start).Round(time.Second), submitted)
	start = time.Now()
	final := r.finalJobs(ctx, "final", 100*time.Millisecond)
	statuses := r.waitTerminal(ctx)
	t.Logf("every job terminal %s after the last kill", time.Since(start).Round(time.Second))
	for _, id := range final {
		if statuses[id] != "succeeded" {
			t.Errorf("final job %s ended %s", id, statuses[id])
		}
	}
	for id, st := range statuses {
		if st == "failed" { // a kill is no reason to fail: the job resumes
			t.Errorf("job %s failed", id)
		}
	}
	r.checkOperations(ctx, statuses)
	r.drain(ctx)
	t.Logf("outbox drained %s after the last kill", time.Since(start).Round(time.Second))
	r.check(ctx)
}
