package fault

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"sync"
	"time"
)

// streamOptions shape a stream of jobs.
type streamOptions struct {
	prefix string        // job ids are prefix-N
	every  time.Duration // mean pause between submissions
	delay  time.Duration // the Applications' time to Ready
}

// stream submits jobs until the returned stop is called, which waits for
// the submission in flight to be answered: jobs of every application of
// every cluster, operate jobs among them, a few for an application the
// record does not allow (a refusal), a few cancelled soon after. Its choices come from rng.
func (r *run) stream(rng *rand.Rand, o streamOptions) (stop func() int) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	n := 0
	ids := r.clusterIDs()
	wg.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		for ; ; n++ {
			select {
			case <-done:
				return
			case <-time.After(time.Duration(rng.Int64N(int64(2 * o.every)))):
			}
			s := jobSpec{id: fmt.Sprintf("%s-%d", o.prefix, n), cluster: ids[rng.IntN(len(ids))], app: apps[rng.IntN(len(apps))],
				extra: rng.IntN(2) == 0, delay: o.delay}
			roll := rng.IntN(100)
			if roll < 8 {
				s.app = "app-x"
			}
			s.operate = roll >= 18 && roll < 32 // an operation beside the applies, a few of them cancelled
			code := r.submit(ctx, s)
			if roll < 8 && code != http.StatusUnprocessableEntity {
				r.t.Errorf("job %s for an application not allowed: %d, want 422", s.id, code)
			}
			if (roll >= 8 && roll < 18 || roll >= 29 && roll < 32) && code == http.StatusAccepted {
				r.cancel(ctx, s.id)
			}
		}
	})
	return func() int {
		close(done)
		wg.Wait()
		return n
	}
}

// clusterIDs are the run's pushd cluster ids, sorted (so a seed replays).
func (r *run) clusterIDs() []string {
	var ids []string
	for id := range r.clusters {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// finalJobs submits one more job per application of every cluster and
// returns their ids: each application's latest intent is then a job no one
// cancelled, which must succeed and be what its cluster holds.
func (r *run) finalJobs(ctx context.Context, prefix string, delay time.Duration) []string {
	var out []string
	for _, c := range r.clusterIDs() {
		for _, a := range apps {
			id := fmt.Sprintf("%s-%s-%s", prefix, c, a)
			if code := r.submit(ctx, jobSpec{id: id, cluster: c, app: a, delay: delay}); code != http.StatusAccepted {
				r.t.Fatalf("final job %s: %d", id, code)
			}
			out = append(out, id)
		}
	}
	return out
}
