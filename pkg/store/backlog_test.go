package store

import (
	"context"
	"testing"
	"time"
)

// TestOutboxBacklog counts what still waits for delivery — neither
// delivered nor parked — and dates its oldest event.
func TestOutboxBacklog(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, s *Store) {
		if n, oldest, err := s.OutboxBacklog(ctx); err != nil || n != 0 || !oldest.IsZero() {
			t.Fatalf("empty outbox: %d, %s, %v", n, oldest, err)
		}
		t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
		for i, id := range []string{"e1", "e2", "e3", "e4"} {
			e := &Event{ID: id, Type: "job.status_changed", Organization: "acme", Cluster: "c1", Data: "{}", CreatedAt: t0.Add(time.Duration(i) * time.Minute)}
			if err := s.AddEvent(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		es, _ := s.Events(ctx, "c1", 10)                                 // newest first
		if err := s.MarkEventDelivered(ctx, es[3].Seq, t0); err != nil { // e1
			t.Fatal(err)
		}
		if _, err := s.MarkEventParked(ctx, es[2].Seq, "", t0, "gone"); err != nil { // e2
			t.Fatal(err)
		}
		n, oldest, err := s.OutboxBacklog(ctx)
		if err != nil || n != 2 || !oldest.Equal(t0.Add(2*time.Minute)) {
			t.Fatalf("backlog %d, oldest %s, %v; want 2 from %s", n, oldest, err, t0.Add(2*time.Minute))
		}
	})
}
