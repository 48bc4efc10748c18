package workers

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestWorkers(t *testing.T) {
	w := New("test", nil)
	now := time.Unix(100, 0)
	if !w.Due("a", time.Minute, now) {
		t.Fatal("a cluster that never ran is due")
	}
	release := make(chan struct{})
	w.Go("a", func() { <-release }, nil)
	w.Go("a", func() { <-release }, nil)
	if w.Running("a") != 2 || w.Due("a", 0, now) {
		t.Fatalf("running %d; due while running", w.Running("a"))
	}
	release <- struct{}{}
	w.Finished(<-w.Done(), now)
	if w.Running("a") != 1 {
		t.Fatalf("running %d after one finished", w.Running("a"))
	}
	close(release)
	w.Finished(<-w.Done(), now)
	if w.Due("a", time.Minute, now.Add(59*time.Second)) || !w.Due("a", time.Minute, now.Add(time.Minute)) {
		t.Fatal("due must wait for the interval after the last run finished")
	}
	w.Keep(func(string) bool { return false })
	if !w.Due("a", time.Minute, now) {
		t.Fatal("a forgotten cluster is due again")
	}
	w.Go("b", func() {}, nil)
	w.Wait()
	if w.Running("b") != 0 {
		t.Fatal("Wait returned with a worker running")
	}
}

// TestPanicIsRecovered: a worker's panic reaches its recovery and the
// counter, holds its cluster back for a doubling backoff, and leaves the
// other clusters due.
func TestPanicIsRecovered(t *testing.T) {
	w := New("unit", nil)
	before := testutil.ToFloat64(Panics.WithLabelValues("unit"))
	now := time.Unix(100, 0)
	var got any
	w.Go("a", func() { panic("boom") }, func(p any) { got = p })
	w.Finished(<-w.Done(), now)
	if got != "boom" {
		t.Fatalf("recovered %v", got)
	}
	if n := testutil.ToFloat64(Panics.WithLabelValues("unit")) - before; n != 1 {
		t.Fatalf("pushd_panics_total{kind=unit} grew by %v", n)
	}
	if w.Due("a", 0, now.Add(FirstBackoff/2)) || !w.Due("a", 0, now.Add(FirstBackoff)) {
		t.Fatal("a cluster whose worker panicked is held back for the first backoff, then due")
	}
	if !w.Due("b", 0, now) {
		t.Fatal("another cluster is held back by a's panic")
	}
	release := make(chan struct{})
	w.Go("c", func() { <-release }, nil)
	if got := w.Busy(now); !slices.Equal(got, []string{"a", "c"}) || w.Total() != 1 {
		t.Fatalf("busy %v (want the held a and the running c), total %d", got, w.Total())
	}
	close(release)
	w.Finished(<-w.Done(), now)
	if got := w.Busy(now.Add(FirstBackoff)); len(got) != 0 {
		t.Fatalf("busy %v once a's backoff is over and c returned", got)
	}
	w.Go("a", func() { panic("again") }, nil)
	w.Finished(<-w.Done(), now)
	if w.Due("a", 0, now.Add(FirstBackoff)) || !w.Due("a", 0, now.Add(2*FirstBackoff)) {
		t.Fatal("a second panic in a row doubles the backoff")
	}
	w.Go("a", func() {}, nil)
	w.Finished(<-w.Done(), now)
	w.Go("a", func() { panic("later") }, nil)
	w.Finished(<-w.Done(), now)
	if !w.Due("a", 0, now.Add(FirstBackoff)) {
		t.Fatal("a clean run resets the backoff")
	}
}

// TestRelayCarriesAPanicHome: a panic in a fanned-out goroutine reaches the
// waiting one, where Guard recovers it.
func TestRelayCarriesAPanicHome(t *testing.T) {
	var got any
	Guard(nil, "unit", "a", func() {
		var r Relay
		done := make(chan struct{})
		go func() { defer close(done); r.Run(func() { panic("in a writer") }) }()
		<-done
		r.Rethrow()
		t.Error("Rethrow returned after a panic")
	}, func(p any) { got = p })
	if s, _ := got.(string); !strings.Contains(s, "in a writer") {
		t.Fatalf("recovered %v", got)
	}
}
