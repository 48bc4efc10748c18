package clusters

import "time"

// Workers are the goroutines one loop runs for clusters — probes, status
// polls, jobs — each cluster's apart from the others', so a slow cluster
// holds up no other. It is the shape of all of pushd's per-cluster
// background work: the loop that starts the workers owns this value (it has
// no lock; nothing else may call it), each worker reports on Done when it
// returns, and the loop hands what it receives to Finished. Before
// returning, the loop calls Wait.
type Workers struct {
	running map[string]int
	last    map[string]time.Time
	done    chan string
}

// NewWorkers returns an empty set of workers.
func NewWorkers() *Workers {
	return &Workers{running: map[string]int{}, last: map[string]time.Time{}, done: make(chan string)}
}

// Running is how many of the cluster's workers are running.
func (w *Workers) Running(cluster string) int { return w.running[cluster] }

// Due tells whether the cluster has no worker running and its last one
// finished at least interval before now (or never ran).
func (w *Workers) Due(cluster string, interval time.Duration, now time.Time) bool {
	return w.running[cluster] == 0 && now.Sub(w.last[cluster]) >= interval
}

// Go runs fn in a worker of the cluster.
func (w *Workers) Go(cluster string, fn func()) {
	w.running[cluster]++
	go func() {
		defer func() { w.done <- cluster }()
		fn()
	}()
}

// Done receives the cluster of each worker that returned; pass it to
// Finished.
func (w *Workers) Done() <-chan string { return w.done }

// Finished records that a worker of the cluster returned at now.
func (w *Workers) Finished(cluster string, now time.Time) {
	if w.running[cluster]--; w.running[cluster] <= 0 {
		delete(w.running, cluster)
	}
	w.last[cluster] = now
}

// Keep forgets the clusters keep does not name and that have no worker
// running, so the set does not grow with clusters long gone.
func (w *Workers) Keep(keep func(cluster string) bool) {
	for c := range w.last {
		if !keep(c) && w.running[c] == 0 {
			delete(w.last, c)
		}
	}
}

// Wait waits for every running worker to return.
func (w *Workers) Wait() {
	for len(w.running) > 0 {
		w.Finished(<-w.done, time.Time{})
	}
}
