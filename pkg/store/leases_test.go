package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// A lease is acquired once, renewed by its holder, taken over only once it
// expired — with a higher token — and a write fenced with the stale token
// writes nothing while the new holder's does.
func TestClusterLeaseTakeoverFencesTheStaleHolder(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, s *Store) {
		now := time.Now().UTC()
		ttl := 15 * time.Second

		a, ok, err := s.AcquireLease(ctx, "c1", "replica-a", now, ttl)
		if err != nil || !ok || a.Token != 1 {
			t.Fatalf("first acquire = %+v, %v, %v; want token 1", a, ok, err)
		}
		if _, ok, err := s.AcquireLease(ctx, "c1", "replica-b", now.Add(ttl/2), ttl); err != nil || ok {
			t.Fatalf("acquire of a running lease = %v, %v; want refused", ok, err)
		}
		// Renewed, it outlives its first expiry.
		held, err := s.RenewLeases(ctx, "replica-a", now.Add(ttl/2).Add(ttl))
		if err != nil || held["c1"] != a {
			t.Fatalf("renew = %v, %v; want %+v", held, err, a)
		}
		if _, ok, _ := s.AcquireLease(ctx, "c1", "replica-b", now.Add(ttl+time.Second), ttl); ok {
			t.Fatal("a renewed lease was taken over before its new expiry")
		}
		// Holder a stalls; past the expiry b takes over with a higher token.
		later := now.Add(2 * ttl)
		b, ok, err := s.AcquireLease(ctx, "c1", "replica-b", later, ttl)
		if err != nil || !ok || b.Token <= a.Token {
			t.Fatalf("takeover = %+v, %v, %v; want a token above %d", b, ok, err, a.Token)
		}
		if held, err := s.RenewLeases(ctx, "replica-a", later.Add(ttl)); err != nil || len(held) != 0 {
			t.Fatalf("stale holder's renew = %v, %v; want nothing held", held, err)
		}

		// a wakes up and writes what it observed: every fenced write is dropped.
		stale, current := WithFence(ctx, a), WithFence(ctx, b)
		ev := func(id string) *Event {
			return &Event{ID: id, Type: "cluster.connectivity_changed", Organization: "acme", Cluster: "c1", Data: "{}"}
		}
		writes := map[string]func(context.Context, string) error{
			"cluster status": func(ctx context.Context, id string) error {
				return s.SaveClusterStatus(ctx, &ClusterStatus{ClusterID: "c1", State: id, CheckedAt: later}, ev("evt-status-"+id))
			},
			"application states": func(ctx context.Context, id string) error {
				return s.SaveApplicationStates(ctx, "c1", []ApplicationState{{Cluster: "c1", Namespace: "ns", Application: id, Health: "Current"}}, ev("evt-apps-"+id))
			},
			"events": func(ctx context.Context, id string) error { return s.AddEvents(ctx, ev("evt-only-"+id)) },
			"correction job": func(ctx context.Context, id string) error {
				_, err := s.CreateJob(ctx, &Job{ID: "job-" + id, Organization: "acme", Cluster: "c1", Namespace: "ns", Application: "app",
					Action: "apply", Status: JobQueued, Manifests: "[]", Objects: "[]"}, ev("evt-job-"+id))
				return err
			},
		}
		for what, write := range writes {
			if err := write(stale, "stale"); !errors.Is(err, ErrLeaseLost) {
				t.Errorf("%s under the stale token: %v; want ErrLeaseLost", what, err)
			}
			if err := write(current, "current"); err != nil {
				t.Errorf("%s under the current token: %v", what, err)
			}
		}
		var staleEvents, currentEvents int64
		s.db.Model(&Event{}).Where("id LIKE ?", "%-stale").Count(&staleEvents)
		s.db.Model(&Event{}).Where("id LIKE ?", "%-current").Count(&currentEvents)
		if staleEvents != 0 || currentEvents != int64(len(writes)) {
			t.Errorf("events: %d from the stale holder (want 0), %d from the current one (want %d)", staleEvents, currentEvents, len(writes))
		}
		if st, _ := s.ClusterStatuses(ctx, []string{"c1"}); st["c1"].State != "current" {
			t.Errorf("cluster status = %q, want the current holder's", st["c1"].State)
		}
		if _, err := s.GetJob(ctx, "acme", "job-stale"); !errors.Is(err, ErrNotFound) {
			t.Errorf("the stale holder's correction job exists: %v", err)
		}

		// Released, the lease is free at once, and the next holder's token is higher still.
		if err := s.ReleaseLease(ctx, b, later); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveClusterStatus(current, &ClusterStatus{ClusterID: "c1", State: "released", CheckedAt: later}); !errors.Is(err, ErrLeaseLost) {
			t.Errorf("write after release: %v; want ErrLeaseLost", err)
		}
		c, ok, err := s.AcquireLease(ctx, "c1", "replica-a", later, ttl)
		if err != nil || !ok || c.Token <= b.Token {
			t.Fatalf("acquire after release = %+v, %v, %v; want a token above %d", c, ok, err, b.Token)
		}
	})
}

// Of replicas racing for one free lease, exactly one gets it.
func TestClusterLeaseRaceHasOneWinner(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, s *Store) {
		now := time.Now().UTC()
		for round := range 3 { // a new row, then an expired one, twice
			var wg sync.WaitGroup
			wins := make([]bool, 6)
			at := now.Add(time.Duration(round) * time.Minute)
			for i := range wins {
				wg.Go(func() {
					_, ok, err := s.AcquireLease(ctx, "c1", fmt.Sprintf("r%d", i), at, 10*time.Second)
					if err != nil {
						t.Error(err)
					}
					wins[i] = ok
				})
			}
			wg.Wait()
			n := 0
			for _, w := range wins {
				if w {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("round %d: %d replicas acquired the lease, want 1", round, n)
			}
		}
		if rows, _ := s.ClusterLeases(ctx); len(rows) != 1 || rows[0].Token != 3 {
			t.Fatalf("lease rows = %+v; want one at token 3", rows)
		}
	})
}

// A drift check asked through another replica reaches the lease's holder
// once; replicas count as live while their heartbeat is recent.
func TestCheckRequestsAndHeartbeats(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, s *Store) {
		now := time.Now().UTC()
		if err := s.RequestCheck(ctx, "c1", now); err != nil { // no lease yet: the next holder runs it
			t.Fatal(err)
		}
		if _, ok, err := s.AcquireLease(ctx, "c1", "a", now, time.Minute); err != nil || !ok {
			t.Fatalf("acquire: %v %v", ok, err)
		}
		if err := s.RequestCheck(ctx, "c2", now); err != nil {
			t.Fatal(err)
		}
		if got, err := s.TakeCheckRequests(ctx, "a"); err != nil || fmt.Sprint(got) != "[c1]" {
			t.Fatalf("requests = %v, %v; want [c1]", got, err)
		}
		if got, _ := s.TakeCheckRequests(ctx, "a"); len(got) != 0 {
			t.Fatalf("requests taken twice: %v", got)
		}

		for i, seen := range []time.Time{now, now.Add(-10 * time.Second), now.Add(-time.Minute)} {
			if err := s.Heartbeat(ctx, Replica{ID: fmt.Sprint("r", i), Host: "h", PID: i, StartedAt: seen}, seen); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := s.LiveReplicas(ctx, now.Add(-15*time.Second)); err != nil || n != 2 {
			t.Fatalf("live replicas = %d, %v; want 2", n, err)
		}
	})
}

// Queue depths count queued jobs per cluster and those of them waiting.
func TestQueueDepths(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, s *Store) {
		for i, c := range []string{"a", "a", "a", "b"} {
			j := &Job{ID: fmt.Sprint("j", i), Organization: "acme", Cluster: c, Namespace: "ns", Application: fmt.Sprint("app", i),
				Action: "apply", Status: JobQueued, Manifests: "[]", Objects: "[]"}
			if _, err := s.CreateJob(ctx, j); err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				if ok, err := s.MarkWaiting(ctx, j.Seq, "cluster_unreachable", time.Now()); err != nil || !ok {
					t.Fatalf("mark waiting: %v %v", ok, err)
				}
			}
		}
		got, err := s.QueueDepths(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := "[{a 3 1} {b 1 0}]"; fmt.Sprint(got) != want {
			t.Fatalf("queue depths = %v, want %s", got, want)
		}
	})
}
