package outbox_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vworkspace/pushd/internal/storetest"
	"github.com/vworkspace/pushd/pkg/outbox"
	"github.com/vworkspace/pushd/pkg/store"
	"github.com/vworkspace/pushd/pkg/workers"
)

// panicOnce is a transport that panics on the first request for one event
// (a bug hit while sending it) and records when each request for it came.
type panicOnce struct {
	id string
	rt http.RoundTripper
	mu sync.Mutex
	at []time.Time
}

func (p *panicOnce) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get("webhook-id") == p.id {
		p.mu.Lock()
		p.at = append(p.at, time.Now())
		first := len(p.at) == 1
		p.mu.Unlock()
		if first {
			panic("injected: a bug hit sending " + p.id)
		}
	}
	return p.rt.RoundTrip(r)
}

func (p *panicOnce) attempts() []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Time(nil), p.at...)
}

// TestPanicHoldsBackItsClusterOnly: a panic while sending one cluster's
// event is recovered and counted; the other cluster's events flow at once;
// the cluster's event is not tried again until the workers' backoff is
// over (its claim lapsing sooner does not matter), then it and the rest of
// its cluster are delivered in order.
func TestPanicHoldsBackItsClusterOnly(t *testing.T) {
	storetest.Each(t, func(t *testing.T, _ context.Context, st *store.Store) {
		recv := newReceiver(t, nil)
		bad := addEvents(t, st, "bad", 3)
		good := addEvents(t, st, "good", 3)
		tr := &panicOnce{id: bad[0], rt: http.DefaultTransport}
		before := testutil.ToFloat64(workers.Panics.WithLabelValues("callback"))
		d := outbox.New(st, recv.url, secret(t), outbox.Options{
			Client:       &http.Client{Transport: tr},
			PollInterval: 10 * time.Millisecond,
			// The claim lapses four times within the backoff (a lease is at
			// least twice the request timeout).
			Timeout: workers.FirstBackoff / 8,
			Lease:   workers.FirstBackoff / 4,
		})
		run(t, d)

		eventually(t, 10*time.Second, `"good" delivered`, allDelivered(t, st, good))
		eventually(t, 10*time.Second, `"bad" delivered`, allDelivered(t, st, bad))
		if n := testutil.ToFloat64(workers.Panics.WithLabelValues("callback")) - before; n != 1 {
			t.Fatalf("pushd_panics_total{kind=callback} grew by %v, want 1", n)
		}
		at := tr.attempts()
		if len(at) != 2 {
			t.Fatalf("%d requests for the event that panicked, want the panic and one delivery", len(at))
		}
		if gap := at[1].Sub(at[0]); gap < workers.FirstBackoff {
			t.Fatalf("tried again %s after the panic, before the %s backoff", gap, workers.FirstBackoff)
		}
		var gotBad []string
		for _, id := range recv.delivered() {
			if id == bad[0] || id == bad[1] || id == bad[2] {
				gotBad = append(gotBad, id)
			}
		}
		if len(gotBad) != 3 || gotBad[0] != bad[0] || gotBad[1] != bad[1] || gotBad[2] != bad[2] {
			t.Fatalf(`"bad" delivered %v, want %v in order`, gotBad, bad)
		}
	})
}
