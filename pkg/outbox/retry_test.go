package outbox_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/internal/storetest"
	"github.com/vworkspace/pushd/pkg/outbox"
)

// A receiver that fails three times and then accepts gets the same
// webhook-id four times, each attempt signed at its own time, the next
// attempt scheduled ever further out. The clock is injected: the test moves it
// to each scheduled retry instead of sleeping through the backoff.
func TestRetriesKeepTheIDAndBackOff(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		const failures = 3
		const base = time.Minute
		st := storetest.Open(t, db)
		clk, recv := newClockedReceiver(t)
		recv.setRespond(func(_ outbox.Body, attempt int) int {
			if attempt <= failures {
				return http.StatusServiceUnavailable
			}
			return http.StatusNoContent
		})
		id := addEvents(t, st, "prod-1", 1)[0]
		d := outbox.New(st, recv.url, secret(t), outbox.Options{
			Now: clk.Now, BackoffBase: base, BackoffMax: time.Hour, PollInterval: time.Hour,
		})
		run(t, d)

		var attemptTimes []time.Time
		for n := 1; n <= failures; n++ {
			attemptTimes = append(attemptTimes, clk.Now())
			eventually(t, 10*time.Second, "failed attempt", func() bool { return events(t, st)[id].Attempts == n })
			e := events(t, st)[id]
			if e.DeliveredAt != nil || !strings.Contains(e.LastError, "503") {
				t.Fatalf("after attempt %d: delivered %v, last error %q", n, e.DeliveredAt, e.LastError)
			}
			wait := e.NextAttemptAt.Sub(clk.Now())
			full := base << (n - 1)
			if wait < full*4/5-time.Millisecond || wait > full+time.Millisecond {
				t.Fatalf("after attempt %d: next attempt in %s, want within [%s, %s]", n, wait, full*4/5, full)
			}
			// Nothing happens before the scheduled time...
			clk.Set(e.NextAttemptAt.Add(-time.Second))
			d.Notify()
			time.Sleep(50 * time.Millisecond)
			if got := len(recv.all()); got != n {
				t.Fatalf("after attempt %d: %d requests before the retry was due", n, got)
			}
			// ...and the retry goes out once it is due.
			clk.Set(e.NextAttemptAt)
			d.Notify()
		}
		attemptTimes = append(attemptTimes, clk.Now())
		eventually(t, 10*time.Second, "delivery", allDelivered(t, st, []string{id}))

		got := recv.all()
		if len(got) != failures+1 {
			t.Fatalf("%d requests, want %d", len(got), failures+1)
		}
		for i, rc := range got {
			if rc.WebhookID != id {
				t.Errorf("request %d: webhook-id %q, want %q", i, rc.WebhookID, id)
			}
			if !rc.SignedAt.Equal(attemptTimes[i].Truncate(time.Second)) {
				t.Errorf("request %d: signed at %s, want the attempt's time %s", i, rc.SignedAt, attemptTimes[i])
			}
		}
		if e := events(t, st)[id]; e.Attempts != failures+1 || e.LastError != "" {
			t.Errorf("delivered event: attempts %d, last error %q", e.Attempts, e.LastError)
		}
	})
}
