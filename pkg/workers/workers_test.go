package clusters

import (
	"testing"
	"time"
)

func TestWorkers(t *testing.T) {
	w := NewWorkers()
	now := time.Unix(100, 0)
	if !w.Due("a", time.Minute, now) {
		t.Fatal("a cluster that never ran is due")
	}
	release := make(chan struct{})
	w.Go("a", func() { <-release })
	w.Go("a", func() { <-release })
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
	w.Go("b", func() {})
	w.Wait()
	if w.Running("b") != 0 {
		t.Fatal("Wait returned with a worker running")
	}
}
