package outbox_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/internal/storetest"
	"github.com/vworkspace/pushd/pkg/outbox"
	"github.com/vworkspace/pushd/pkg/store"
)

// While the receiver refuses every event of cluster "bad", "bad" waits at its
// oldest event — its later events are not even sent — and cluster "good"
// flows. When the receiver recovers, "bad" catches up in order.
func TestClusterWaitsForItsOldestEventOthersFlow(t *testing.T) {
	storetest.Each(t, func(t *testing.T, _ context.Context, st *store.Store) {
		clk, recv := newClockedReceiver(t)
		recv.setRespond(func(b outbox.Body, _ int) int {
			if b.Cluster == "bad" {
				return http.StatusInternalServerError
			}
			return http.StatusOK
		})
		var bad, good []string
		for range 4 { // interleaved, so "bad"'s events are older than most of "good"'s
			bad = append(bad, addEvents(t, st, "bad", 1)...)
			good = append(good, addEvents(t, st, "good", 1)...)
		}
		d := outbox.New(st, recv.url, secret(t), outbox.Options{Now: clk.Now, PollInterval: 10 * time.Millisecond})
		run(t, d)

		eventually(t, 10*time.Second, `"good" delivered`, allDelivered(t, st, good))
		eventually(t, 10*time.Second, `"bad"'s first failure`, func() bool { return events(t, st)[bad[0]].Attempts == 1 })
		time.Sleep(100 * time.Millisecond) // ten polls: time enough to send what it should not
		for _, rc := range recv.all() {
			if rc.Body.Cluster == "bad" && rc.WebhookID != bad[0] {
				t.Fatalf("sent %s while the older %s was undelivered", rc.WebhookID, bad[0])
			}
		}
		if diff := cmp.Diff(good, recv.delivered()); diff != "" {
			t.Fatalf(`"good" delivered (-want +got):\n%s`, diff)
		}

		recv.setRespond(func(outbox.Body, int) int { return http.StatusOK })
		clk.Set(clk.Now().Add(time.Hour)) // past any backoff
		d.Notify()
		eventually(t, 10*time.Second, `"bad" delivered`, allDelivered(t, st, bad))
		var gotBad []string
		for _, id := range recv.delivered() {
			if slices.Contains(bad, id) {
				gotBad = append(gotBad, id)
			}
		}
		if diff := cmp.Diff(bad, gotBad); diff != "" {
			t.Fatalf(`"bad" delivered (-want +got):\n%s`, diff)
		}
	})
}

// A deliverer stopped while the receiver holds one of its requests hands that
// event back; a second deliverer, on a fresh connection as after a restart,
// delivers it and the rest, in order. The interrupted event is the only one
// received twice, with the same webhook-id.
func TestRestartDeliversTheRest(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		recv := newReceiver(t, nil)
		held := make(chan struct{})
		release := make(chan struct{})
		st1 := storetest.Open(t, db)
		ids := addEvents(t, st1, "prod-1", 6)
		recv.setRespond(func(b outbox.Body, attempt int) int {
			if b.ID == ids[2] && attempt == 1 {
				close(held)
				<-release // until the test lets go, after the deliverer gave up
			}
			return http.StatusOK
		})
		stop := run(t, outbox.New(st1, recv.url, secret(t), outbox.Options{PollInterval: 10 * time.Millisecond}))
		<-held
		stop() // mid-attempt: Run cancels the request and returns
		close(release)

		e := events(t, st1)[ids[2]]
		if e.DeliveredAt != nil || e.Attempts != 0 {
			t.Fatalf("interrupted event: delivered %v, attempts %d; want undelivered, no attempt counted", e.DeliveredAt, e.Attempts)
		}
		if got := recv.delivered(); !slices.Equal(got, ids[:2]) {
			t.Fatalf("before the restart delivered %v, want %v", got, ids[:2])
		}

		st2 := storetest.Open(t, db)
		// A long lease-ending wait would show here: the claim must have been released.
		run(t, outbox.New(st2, recv.url, secret(t), outbox.Options{PollInterval: 10 * time.Millisecond}))
		eventually(t, 10*time.Second, "the rest delivered", allDelivered(t, st2, ids))

		if diff := cmp.Diff(ids, recv.delivered()); diff != "" {
			t.Fatalf("delivered (-want +got):\n%s", diff)
		}
		seen := map[string]int{}
		for _, rc := range recv.all() {
			seen[rc.WebhookID]++
		}
		for i, id := range ids {
			if want := map[bool]int{true: 2, false: 1}[i == 2]; seen[id] != want {
				t.Errorf("event %d received %d times, want %d", i, seen[id], want)
			}
		}
	})
}

// A deliverer that died holding a claim (no release) delays its event only
// until the lease ends; then another takes it over.
func TestLapsedClaimIsTakenOver(t *testing.T) {
	storetest.Each(t, func(t *testing.T, ctx context.Context, st *store.Store) {
		clk, recv := newClockedReceiver(t)
		ids := addEvents(t, st, "prod-1", 2)
		// The dead deliverer's claim, taken as it would have.
		claimed, err := st.ClaimEvents(ctx, store.EventClaim{Owner: "crashed", Now: clk.Now(), Lease: time.Minute, Limit: 10})
		if err != nil || len(claimed) != 1 || claimed[0].ID != ids[0] {
			t.Fatalf("claim: %v %v", claimed, err)
		}
		d := outbox.New(st, recv.url, secret(t), outbox.Options{Now: clk.Now, PollInterval: 10 * time.Millisecond})
		run(t, d)
		time.Sleep(100 * time.Millisecond)
		if n := len(recv.all()); n != 0 {
			t.Fatalf("%d requests while the claim was live", n)
		}
		clk.Set(clk.Now().Add(time.Minute))
		eventually(t, 10*time.Second, "takeover", allDelivered(t, st, ids))
		if diff := cmp.Diff(ids, recv.delivered()); diff != "" {
			t.Fatalf("delivered (-want +got):\n%s", diff)
		}
	})
}
