// Package workers runs pushd's per-cluster and per-job goroutines — probes,
// status polls, drift checks, jobs, callback deliveries — and is the one
// place a panic in one of them is recovered: logged with its stack, counted
// in pushd_panics_total, handed to the caller's recovery (a job fails with
// internal_error), and the cluster's next worker of that kind held back by
// a backoff. A bug hit by one cluster's work never ends the process, and
// every other cluster carries on.
package workers

import (
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Panics counts the panics recovered, by kind of work (probe, poll, drift,
// job, callback, …). Register it once with the process's registry.
var Panics = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "pushd_panics_total",
	Help: "Panics recovered in pushd's per-cluster and per-job goroutines, by kind of work; each is logged with its stack.",
}, []string{"kind"})

// Backoff bounds how long a cluster's next worker of a kind waits after a
// panic: 1s after the first, doubling per panic in a row, at most MaxBackoff.
const (
	FirstBackoff = time.Second
	MaxBackoff   = time.Minute
)

// Guard runs fn, recovering a panic: it is logged with its stack (kind and
// cluster say whose work it was), counted in Panics, and passed to
// recovered when that is set. It reports whether fn panicked. Every
// goroutine pushd starts for a cluster or a job runs under Guard, most of
// them as a Set's workers.
func Guard(log *slog.Logger, kind, cluster string, fn func(), recovered func(p any)) (panicked bool) {
	defer func() {
		p := recover()
		if p == nil {
			return
		}
		panicked = true
		Panics.WithLabelValues(kind).Inc()
		if log != nil {
			log.Error("panic recovered; the cluster's other work and every other cluster carry on", "kind", kind, "cluster", cluster,
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		}
		if recovered != nil {
			recovered(p)
		}
	}()
	fn()
	return false
}

// Set is the goroutines one loop runs for clusters, each cluster's apart
// from the others', so a slow cluster holds up no other. It is the shape of
// all of pushd's per-cluster background work: the loop that starts the
// workers owns the Set (it has no lock; nothing else may call it), each
// worker reports on Done when it returns, and the loop hands what it
// receives to Finished. Before returning, the loop calls Wait.
type Set struct {
	kind    string
	log     *slog.Logger
	running map[string]int
	last    map[string]time.Time
	// held: after a panic, the cluster's next worker waits until then;
	// strikes counts the panics in a row that set it.
	held    map[string]time.Time
	strikes map[string]int
	done    chan Finish
}

// Finish is a worker's report that it returned.
type Finish struct {
	Cluster  string
	panicked bool
}

// New returns an empty set of workers of one kind; log receives recovered
// panics.
func New(kind string, log *slog.Logger) *Set {
	return &Set{kind: kind, log: log, running: map[string]int{}, last: map[string]time.Time{},
		held: map[string]time.Time{}, strikes: map[string]int{}, done: make(chan Finish)}
}

// Running is how many of the cluster's workers are running.
func (w *Set) Running(cluster string) int { return w.running[cluster] }

// Total is how many workers are running, of every cluster.
func (w *Set) Total() (n int) {
	for _, r := range w.running {
		n += r
	}
	return n
}

// Busy lists the clusters that have a worker running or are held back
// after a panic at now: those no new worker of this set may start for.
func (w *Set) Busy(now time.Time) []string {
	var busy []string
	for c := range w.running {
		busy = append(busy, c)
	}
	for c := range w.held {
		if w.running[c] == 0 && w.Held(c, now) {
			busy = append(busy, c)
		}
	}
	slices.Sort(busy)
	return busy
}

// Held tells whether the cluster's workers are held back after a panic.
func (w *Set) Held(cluster string, now time.Time) bool { return now.Before(w.held[cluster]) }

// Due tells whether the cluster has no worker running, is not held back
// after a panic, and its last worker finished at least interval before now
// (or none ever ran).
func (w *Set) Due(cluster string, interval time.Duration, now time.Time) bool {
	return w.running[cluster] == 0 && !w.Held(cluster, now) && now.Sub(w.last[cluster]) >= interval
}

// Go runs fn in a worker of the cluster, under Guard; recovered (may be
// nil) is called with a recovered panic.
func (w *Set) Go(cluster string, fn func(), recovered func(p any)) {
	w.running[cluster]++
	go func() {
		f := Finish{Cluster: cluster}
		defer func() { w.done <- f }()
		f.panicked = Guard(w.log, w.kind, cluster, fn, recovered)
	}()
}

// Done receives the report of each worker that returned; pass it to
// Finished.
func (w *Set) Done() <-chan Finish { return w.done }

// Finished records that a worker returned at now. After a panic the
// cluster is held back for a backoff that doubles with each panic in a row.
func (w *Set) Finished(f Finish, now time.Time) {
	c := f.Cluster
	if w.running[c]--; w.running[c] <= 0 {
		delete(w.running, c)
	}
	w.last[c] = now
	if !f.panicked {
		delete(w.strikes, c)
		return
	}
	wait := FirstBackoff << min(w.strikes[c], 6)
	w.strikes[c]++
	w.held[c] = now.Add(min(wait, MaxBackoff))
}

// Keep forgets the clusters keep does not name and that have no worker
// running, so the set does not grow with clusters long gone.
func (w *Set) Keep(keep func(cluster string) bool) {
	for c := range w.last {
		if !keep(c) && w.running[c] == 0 {
			delete(w.last, c)
			delete(w.held, c)
			delete(w.strikes, c)
		}
	}
}

// Wait waits for every running worker to return.
func (w *Set) Wait() {
	for len(w.running) > 0 {
		w.Finished(<-w.done, time.Time{})
	}
}

// Relay carries a panic from the goroutines a unit of work fans out to
// (an engine's parallel writes) back to the goroutine that waits for them,
// which runs under Guard: Run recovers and keeps the first panic, Rethrow
// raises it again, with the stack where it happened, once they are done.
type Relay struct {
	mu    sync.Mutex
	p     any
	stack []byte
}

// Run runs fn, keeping a panic for Rethrow.
func (r *Relay) Run(fn func()) {
	defer func() {
		if p := recover(); p != nil {
			r.mu.Lock()
			if r.p == nil {
				r.p, r.stack = p, debug.Stack()
			}
			r.mu.Unlock()
		}
	}()
	fn()
}

// Rethrow panics with the first panic Run kept, if any.
func (r *Relay) Rethrow() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.p != nil {
		panic(fmt.Sprintf("%v [in a fanned-out goroutine: %s]", r.p, r.stack))
	}
}
