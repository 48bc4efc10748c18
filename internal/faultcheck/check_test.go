package faultcheck

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vworkspace/pushd/internal/storetest"
	"github.com/vworkspace/pushd/pkg/store"
)

// history is a store where job j-1 was claimed, its worker died, and a
// second claim finished it; and the deliveries a receiver recorded of it.
func history(t *testing.T) (*store.Store, []Delivery) {
	t.Helper()
	ctx := context.Background()
	st := storetest.SQLite(t)
	event := func(status store.JobStatus, attempt int) *store.Event {
		data, _ := json.Marshal(map[string]any{"id": "j-1", "status": status, "attempt": attempt})
		return &store.Event{ID: fmt.Sprintf("evt-%s-%d", status, attempt), Type: jobStatusChanged, Organization: "acme", Cluster: "acme-1", Data: string(data)}
	}
	job := &store.Job{Organization: "acme", ID: "j-1", Cluster: "acme-1", Namespace: "ns", Application: "app", Action: "apply", Status: store.JobQueued}
	if _, err := st.CreateJob(ctx, job, event(store.JobQueued, 0)); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	first, err := st.ClaimJob(ctx, "acme-1", "w-1", now, time.Second)
	if err != nil || first == nil {
		t.Fatalf("claim: %v", err)
	}
	if err := st.StartJob(ctx, store.Claim{Seq: first.Seq, Attempt: first.Attempt}, now, event(store.JobRunning, 1)); err != nil {
		t.Fatal(err)
	}
	second, err := st.ClaimJob(ctx, "acme-1", "w-2", now.Add(2*time.Second), time.Second) // w-1's lease expired
	if err != nil || second == nil {
		t.Fatalf("second claim: %v", err)
	}
	done := store.Outcome{Status: store.JobSucceeded, At: now, Objects: "[]"}
	if err := st.FinishJob(ctx, store.Claim{Seq: second.Seq, Attempt: second.Attempt}, done, event(store.JobSucceeded, 2)); err != nil {
		t.Fatal(err)
	}
	events, err := st.Events(ctx, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []Delivery
	for i := len(events) - 1; i >= 0; i-- { // oldest first, as delivered
		e := events[i]
		if err := st.MarkEventDelivered(ctx, e.Seq, now); err != nil {
			t.Fatal(err)
		}
		got = append(got, Delivery{WebhookID: e.ID, Type: e.Type, Organization: e.Organization, Cluster: e.Cluster, Data: json.RawMessage(e.Data)})
	}
	return st, got
}

// The checker passes a good history and names each kind of broken promise
// in a history changed to break it.
func TestCheck(t *testing.T) {
	acme := func(id string) JobRef { return JobRef{"acme", id} }
	for _, tc := range []struct {
		name string
		// change breaks the history (or not).
		change func(t *testing.T, st *store.Store, in *Input)
		want   string // a problem's text; empty: none
	}{
		{name: "as it happened", change: func(*testing.T, *store.Store, *Input) {}},
		{name: "an event delivered twice under its id", change: func(_ *testing.T, _ *store.Store, in *Input) {
			in.Deliveries = append(in.Deliveries, in.Deliveries[len(in.Deliveries)-1])
		}},
		{name: "a second terminal event", want: "2 distinct terminal events delivered", change: func(_ *testing.T, _ *store.Store, in *Input) {
			d := in.Deliveries[len(in.Deliveries)-1]
			d.WebhookID = "evt-other"
			in.Deliveries = append(in.Deliveries, d)
		}},
		{name: "the terminal event of a fenced claim", want: "a stale claim wrote it", change: func(_ *testing.T, _ *store.Store, in *Input) {
			d := &in.Deliveries[len(in.Deliveries)-1]
			d.Data = json.RawMessage(strings.Replace(string(d.Data), `"attempt":2`, `"attempt":1`, 1))
		}},
		{name: "a job's events out of order", want: "first arrived after", change: func(_ *testing.T, _ *store.Store, in *Input) {
			in.Deliveries[0], in.Deliveries[1] = in.Deliveries[1], in.Deliveries[0]
		}},
		{name: "an event marked delivered that never arrived", want: "never reached the receiver", change: func(_ *testing.T, _ *store.Store, in *Input) {
			in.Deliveries = in.Deliveries[1:]
		}},
		{name: "an event not delivered", want: "the outbox is not drained", change: func(t *testing.T, st *store.Store, _ *Input) {
			if err := st.AddEvent(context.Background(), &store.Event{ID: "evt-late", Type: "cluster.connectivity_changed", Organization: "acme", Cluster: "acme-1", Data: "{}"}); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "a delivery the store does not hold", want: "is no event of the store", change: func(_ *testing.T, _ *store.Store, in *Input) {
			in.Deliveries = append(in.Deliveries, Delivery{WebhookID: "evt-phantom", Type: "cluster.connectivity_changed", Organization: "acme", Cluster: "acme-1"})
		}},
		{name: "an acknowledged job lost", want: "acknowledged but is not stored", change: func(_ *testing.T, _ *store.Store, in *Input) {
			in.Acked[acme("j-2")] = nil
		}},
		{name: "a refused job stored", want: "was refused but is stored", change: func(_ *testing.T, _ *store.Store, in *Input) {
			in.Refused = append(in.Refused, acme("j-1"))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, deliveries := history(t)
			in := Input{Store: st, Deliveries: deliveries, Acked: map[JobRef][]json.RawMessage{acme("j-1"): nil}}
			tc.change(t, st, &in)
			rep, err := Check(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.want == "" && rep.Err() != nil:
				t.Errorf("problems in a good history:\n%v", rep.Err())
			case tc.want != "" && (rep.Err() == nil || !strings.Contains(rep.Err().Error(), tc.want)):
				t.Errorf("problems %v, want one saying %q", rep.Err(), tc.want)
			}
		})
	}
}

// contains compares what a manifest sets, nothing more.
func TestContains(t *testing.T) {
	live := map[string]any{"metadata": map[string]any{"name": "a", "labels": map[string]any{"x": "1", "pushd": "y"}}, "data": map[string]any{"job": "j-2"}, "n": int64(3)}
	for _, tc := range []struct {
		want map[string]any
		at   string // "" when live contains want
	}{
		{want: map[string]any{"metadata": map[string]any{"name": "a", "labels": map[string]any{"x": "1"}, "annotations": nil}, "n": 3.0}},
		{want: map[string]any{"data": map[string]any{"job": "j-1"}}, at: ".data.job"},
		{want: map[string]any{"spec": map[string]any{}}, at: ".spec"},
	} {
		at, ok := contains(live, tc.want, "")
		if ok != (tc.at == "") || at != tc.at {
			t.Errorf("contains(%v) = %q, %v; want %q", tc.want, at, ok, tc.at)
		}
	}
}
