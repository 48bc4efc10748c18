package outbox_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/vworkspace/pushd/internal/storetest"
	"github.com/vworkspace/pushd/pkg/outbox"
	"github.com/vworkspace/pushd/pkg/store"
)

// A receiver that refuses one event for good (400) gets it ParkAfter times;
// then the event is parked and the cluster's later events arrive, in order.
// The parked event is listed with its error, counted, and once re-sent on
// request it is delivered as the cluster's head again.
func TestRefusedEventIsParkedAndLaterEventsFlow(t *testing.T) {
	storetest.Each(t, func(t *testing.T, ctx context.Context, st *store.Store) {
		clk, recv := newClockedReceiver(t)
		ids := addEvents(t, st, "prod-1", 4)
		refused := ids[1]
		var accept atomic.Bool
		recv.setRespond(func(b outbox.Body, _ int) int {
			if b.ID == refused && !accept.Load() {
				return http.StatusBadRequest
			}
			return http.StatusOK
		})
		metrics := outbox.NewMetrics(prometheus.NewRegistry())
		d := outbox.New(st, recv.url, secret(t), outbox.Options{
			Now: clk.Now, PollInterval: 10 * time.Millisecond, BackoffBase: time.Minute, ParkAfter: 3, Metrics: metrics,
		})
		run(t, d)

		for n := 1; n < 3; n++ { // retried with backoff while the budget lasts
			eventually(t, 10*time.Second, "a refused attempt", func() bool { return events(t, st)[refused].Attempts == n })
			clk.Set(events(t, st)[refused].NextAttemptAt)
			d.Notify()
		}
		want := []string{ids[0], ids[2], ids[3]}
		eventually(t, 10*time.Second, "the later events", allDelivered(t, st, want))
		if diff := cmp.Diff(want, recv.delivered()); diff != "" {
			t.Fatalf("delivered (-want +got):\n%s", diff)
		}
		if n := countRequests(recv, refused); n != 3 {
			t.Errorf("refused event sent %d times, want 3 (ParkAfter)", n)
		}

		parked, err := st.ParkedEvents(ctx, "acme", 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(parked) != 1 || parked[0].ID != refused || !strings.Contains(parked[0].LastError, "400") {
			t.Fatalf("parked events: %+v", parked)
		}
		if other, _ := st.ParkedEvents(ctx, "other-org", 0, 10); len(other) != 0 {
			t.Errorf("another organization sees %d parked events", len(other))
		}
		var m dto.Metric
		if err := metrics.Parked.WithLabelValues("job.status_changed").Write(&m); err != nil {
			t.Fatal(err)
		}
		if got := m.GetCounter().GetValue(); got != 1 {
			t.Errorf("parked counter %v, want 1", got)
		}
		if n, _ := st.CountParkedEvents(ctx); n != 1 {
			t.Errorf("CountParkedEvents = %d, want 1", n)
		}

		// Re-sent on request: delivered, with the same webhook-id.
		if _, err := st.ResendEvent(ctx, "other-org", refused, clk.Now()); err != store.ErrEventNotParked {
			t.Fatalf("resend by another organization: %v, want ErrEventNotParked", err)
		}
		accept.Store(true)
		if _, err := st.ResendEvent(ctx, "acme", refused, clk.Now()); err != nil {
			t.Fatal(err)
		}
		d.Notify()
		eventually(t, 10*time.Second, "the re-sent event", allDelivered(t, st, []string{refused}))
		if parked, _ := st.ParkedEvents(ctx, "acme", 0, 10); len(parked) != 0 {
			t.Errorf("still parked after delivery: %+v", parked)
		}
		if _, err := st.ResendEvent(ctx, "acme", refused, clk.Now()); err != store.ErrEventNotParked {
			t.Errorf("resend of a delivered event: %v, want ErrEventNotParked", err)
		}
	})
}

// An event that fails for a passing reason (503, or 429) keeps its cluster
// waiting until both budgets, attempts and age, are spent — a receiver that
// is down for a while still gets every event in order — and is parked after.
func TestPassingFailuresWaitUntilTheBudgetIsSpent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, ctx context.Context, st *store.Store) {
		clk, recv := newClockedReceiver(t)
		ids := addEvents(t, st, "prod-1", 2)
		recv.setRespond(func(b outbox.Body, attempt int) int {
			if b.ID == ids[0] {
				if attempt%2 == 0 {
					return http.StatusTooManyRequests
				}
				return http.StatusServiceUnavailable
			}
			return http.StatusOK
		})
		d := outbox.New(st, recv.url, secret(t), outbox.Options{
			Now: clk.Now, PollInterval: 10 * time.Millisecond, BackoffBase: time.Second, BackoffMax: time.Second,
			ParkAfter: 1, MaxAttempts: 4, MaxAge: time.Hour,
		})
		run(t, d)

		for n := 1; n <= 6; n++ { // past MaxAttempts, not yet MaxAge old
			eventually(t, 10*time.Second, "a failed attempt", func() bool { return events(t, st)[ids[0]].Attempts == n })
			clk.Set(clk.Now().Add(2 * time.Second))
			d.Notify()
		}
		if len(recv.delivered()) != 0 {
			t.Fatalf("a later event was sent while the first waits: %v", recv.delivered())
		}
		clk.Set(clk.Now().Add(time.Hour)) // now old enough: the next failure parks it
		d.Notify()
		eventually(t, 10*time.Second, "the second event", allDelivered(t, st, ids[1:]))
		if parked, _ := st.ParkedEvents(ctx, "acme", 0, 10); len(parked) != 1 || parked[0].ID != ids[0] {
			t.Fatalf("parked events: %+v", parked)
		}
	})
}

func countRequests(r *receiver, id string) int {
	n := 0
	for _, rc := range r.all() {
		if rc.WebhookID == id {
			n++
		}
	}
	return n
}
