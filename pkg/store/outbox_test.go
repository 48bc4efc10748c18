package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/vworkspace/pushd/internal/dbtest"
)

func addTestEvents(t *testing.T, s *Store, cluster string, n int) []Event {
	t.Helper()
	var es []Event
	for i := range n {
		e := &Event{ID: fmt.Sprintf("evt-%s-%d", cluster, i), Type: "drift.detected", Organization: "acme", Cluster: cluster, Data: "{}"}
		if err := s.AddEvent(context.Background(), e); err != nil {
			t.Fatal(err)
		}
		es = append(es, *e)
	}
	return es
}

func claimedIDs(es []Event) []string {
	ids := make([]string, len(es))
	for i, e := range es {
		ids[i] = e.ID
	}
	return ids
}

// A claim takes only the oldest undelivered event of each cluster, only when
// due and unclaimed, and the next event becomes claimable only once the
// previous one is delivered.
func TestClaimEventsTakesClusterHeads(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, s *Store) {
		a := addTestEvents(t, s, "a", 3)
		b := addTestEvents(t, s, "b", 2)
		now := time.Now().Add(time.Second)
		claim := func(owner string, at time.Time, c EventClaim) []string {
			t.Helper()
			c.Owner, c.Now, c.Lease = owner, at, time.Minute
			if c.Limit == 0 {
				c.Limit = 10
			}
			es, err := s.ClaimEvents(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			return claimedIDs(es)
		}
		if got := claim("x", now, EventClaim{Exclude: []string{"b"}}); fmt.Sprint(got) != "[evt-a-0]" {
			t.Fatalf("excluding b: claimed %v", got)
		}
		if got := claim("y", now, EventClaim{}); fmt.Sprint(got) != "[evt-b-0]" {
			t.Fatalf("a's head is x's: claimed %v", got)
		}
		if got := claim("y", now.Add(59*time.Second), EventClaim{}); len(got) != 0 {
			t.Fatalf("live claims: claimed %v", got)
		}
		// y fails b's head: it is due again in an hour, not before.
		if owned, err := s.MarkEventFailed(ctx, b[0].Seq, "y", now.Add(time.Hour), "HTTP 503"); err != nil || !owned {
			t.Fatalf("MarkEventFailed = %v, %v", owned, err)
		}
		if owned, _ := s.MarkEventFailed(ctx, b[0].Seq, "y", now.Add(time.Hour), "again"); owned {
			t.Fatal("a failure was recorded without a claim")
		}
		if got := claim("y", now.Add(2*time.Minute), EventClaim{Clusters: []string{"b"}}); len(got) != 0 {
			t.Fatalf("b before its retry is due: claimed %v", got)
		}
		// x's lease on a's head lapses; y takes it over, delivers it, and a's next is claimable.
		if got := claim("y", now.Add(time.Minute), EventClaim{Clusters: []string{"a"}}); fmt.Sprint(got) != "[evt-a-0]" {
			t.Fatalf("lapsed claim: claimed %v", got)
		}
		if owned, _ := s.MarkEventFailed(ctx, a[0].Seq, "x", now.Add(time.Hour), "late"); owned {
			t.Fatal("the old owner recorded a failure after losing the claim")
		}
		if err := s.MarkEventDelivered(ctx, a[0].Seq, now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if got := claim("y", now.Add(time.Minute), EventClaim{Limit: 1}); fmt.Sprint(got) != "[evt-a-1]" {
			t.Fatalf("after delivery: claimed %v", got)
		}
		if err := s.ReleaseEvent(ctx, a[1].Seq, "y"); err != nil {
			t.Fatal(err)
		}
		if got := claim("z", now.Add(time.Minute), EventClaim{}); fmt.Sprint(got) != "[evt-a-1]" {
			t.Fatalf("after release: claimed %v", got)
		}
		es, _ := s.Events(ctx, "", 10)
		for _, e := range es {
			if e.ID == "evt-b-0" && (e.Attempts != 1 || e.LastError != "HTTP 503") {
				t.Errorf("b's head: attempts %d, last error %q", e.Attempts, e.LastError)
			}
			if e.ID == "evt-a-0" && (e.Attempts != 1 || e.DeliveredAt == nil) {
				t.Errorf("a's head: attempts %d, delivered %v", e.Attempts, e.DeliveredAt)
			}
		}
	})
}

// Many claimants on separate connections racing for the same heads: each
// event is won by exactly one.
func TestClaimEventsRace(t *testing.T) {
	dbtest.EachContext(t, func(t *testing.T, ctx context.Context, db dbtest.Database) {
		const claimants, clusters = 6, 20
		stores := make([]*Store, claimants)
		for i := range stores {
			s := open(t, db)
			stores[i] = s
		}
		for c := range clusters {
			addTestEvents(t, stores[0], fmt.Sprintf("c%d", c), 2)
		}
		now := time.Now().Add(time.Second)
		won := make([][]string, claimants)
		var wg sync.WaitGroup
		for i, s := range stores {
			wg.Go(func() {
				es, err := s.ClaimEvents(ctx, EventClaim{Owner: fmt.Sprint("owner-", i), Now: now, Lease: time.Minute, Limit: clusters})
				if err != nil {
					t.Error(err)
				}
				won[i] = claimedIDs(es)
			})
		}
		wg.Wait()
		seen := map[string]int{}
		for _, ids := range won {
			for _, id := range ids {
				seen[id]++
			}
		}
		if len(seen) != clusters {
			t.Errorf("%d events claimed, want every cluster's head (%d): %v", len(seen), clusters, won)
		}
		for id, n := range seen {
			if n != 1 {
				t.Errorf("%s claimed %d times", id, n)
			}
		}
	})
}

func TestPruneEventsKeepsUndelivered(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, s *Store) {
		es := addTestEvents(t, s, "a", 3)
		now := time.Now()
		s.MarkEventDelivered(ctx, es[0].Seq, now.Add(-48*time.Hour))
		s.MarkEventDelivered(ctx, es[1].Seq, now)
		n, err := s.PruneEvents(ctx, now.Add(-24*time.Hour))
		if err != nil || n != 1 {
			t.Fatalf("PruneEvents = %d, %v; want 1", n, err)
		}
		left, _ := s.Events(ctx, "", 10)
		if ids := claimedIDs(left); fmt.Sprint(ids) != "[evt-a-2 evt-a-1]" {
			t.Fatalf("left %v", ids)
		}
	})
}
