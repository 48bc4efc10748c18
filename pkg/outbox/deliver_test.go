package outbox_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/internal/logbuf"
	"github.com/vworkspace/pushd/internal/storetest"
	"github.com/vworkspace/pushd/pkg/outbox"
	"github.com/vworkspace/pushd/pkg/store"
)

// Events written while the deliverer waits go out at once on Notify, in
// order, each signed, with the body the contract fixes.
func TestDeliversSignedEventsInOrder(t *testing.T) {
	storetest.Each(t, func(t *testing.T, _ context.Context, st *store.Store) {
		recv := newReceiver(t, nil)
		// A poll interval of an hour: only Notify can explain a prompt delivery.
		d := outbox.New(st, recv.url, secret(t), outbox.Options{PollInterval: time.Hour})
		run(t, d)
		time.Sleep(50 * time.Millisecond) // let Run's first look find nothing

		ids := addEvents(t, st, "prod-1", 5)
		d.Notify()
		eventually(t, 10*time.Second, "delivery", allDelivered(t, st, ids))

		if diff := cmp.Diff(ids, recv.delivered()); diff != "" {
			t.Fatalf("delivered order (-want +got):\n%s", diff)
		}
		rows := events(t, st)
		for i, rc := range recv.all() {
			e := rows[rc.WebhookID]
			want := outbox.Body{
				Type:         "job.status_changed",
				ID:           e.ID,
				Timestamp:    e.CreatedAt.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano),
				Organization: "acme",
				Cluster:      "prod-1",
				Data:         json.RawMessage(e.Data),
			}
			if diff := cmp.Diff(want, rc.Body); diff != "" {
				t.Errorf("body %d (-want +got):\n%s", i, diff)
			}
			var fields map[string]json.RawMessage
			json.Unmarshal(rc.Raw, &fields)
			if len(fields) != 6 || !strings.HasPrefix(string(fields["data"]), "{") {
				t.Errorf("body %d: want exactly type, id, timestamp, organization, cluster and data as an object: %s", i, rc.Raw)
			}
			if e.Attempts != 1 || e.LastError != "" {
				t.Errorf("event %s: attempts %d, last error %q; want 1 and none", e.ID, e.Attempts, e.LastError)
			}
		}
	})
}

// Any 2xx is success; anything else, a redirect included, is a failed attempt.
func TestStatusOutcomes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, _ context.Context, st *store.Store) {
		recv := newReceiver(t, nil)
		statuses := map[string]int{ // cluster → what the receiver answers its events
			"ok-200": 200, "ok-201": 201, "ok-202": 202, "ok-204": 204, "ok-299": 299,
			"no-302": 302, "no-400": 400, "no-409": 409, "no-500": 500, "no-503": 503,
		}
		recv.setRespond(func(b outbox.Body, _ int) int { return statuses[b.Cluster] })
		clusterOf := map[string]string{}
		for c := range statuses {
			clusterOf[addEvents(t, st, c, 1)[0]] = c
		}
		d := outbox.New(st, recv.url, secret(t), outbox.Options{PollInterval: 10 * time.Millisecond, BackoffBase: time.Hour})
		run(t, d)
		eventually(t, 10*time.Second, "one attempt each", func() bool {
			for _, e := range events(t, st) {
				if e.Attempts == 0 {
					return false
				}
			}
			return true
		})
		for id, e := range events(t, st) {
			c := clusterOf[id]
			if ok := strings.HasPrefix(c, "ok-"); ok != (e.DeliveredAt != nil) {
				t.Errorf("cluster %s: delivered = %v, want %v (last error %q)", c, e.DeliveredAt != nil, ok, e.LastError)
			}
			if strings.HasPrefix(c, "no-") && !strings.Contains(e.LastError, strings.TrimPrefix(c, "no-")) {
				t.Errorf("cluster %s: last error %q does not name the status", c, e.LastError)
			}
		}
	})
}

// Neither the callback secret nor a token in the callback URL reaches an
// event's LastError or the log, whether the receiver refuses or is not there.
func TestFailuresNameNoSecret(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		const urlToken = "url-token-hunter2"
		echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte("forbidden\x00\xff"))
		}))
		defer echo.Close()
		gone := httptest.NewServer(http.NotFoundHandler())
		gone.Close() // connection refused from here on

		for _, tc := range []struct {
			name, url, want string
		}{
			{name: "refused", url: echo.URL + "/cb?token=" + urlToken, want: "receiver answered 403 Forbidden: forbidden"},
			{name: "unreachable", url: gone.URL + "/cb?token=" + urlToken, want: "connection refused"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				st := storetest.Open(t, db)
				ids := addEvents(t, st, "prod-"+tc.name, 1)
				logs := &logbuf.Buffer{}
				d := outbox.New(st, tc.url, secret(t), outbox.Options{PollInterval: 10 * time.Millisecond, Logger: debugLogger(logs)})
				stop := run(t, d)
				eventually(t, 10*time.Second, "a failed attempt", func() bool { return events(t, st)[ids[0]].Attempts > 0 })
				stop()
				e := events(t, st)[ids[0]]
				if !strings.Contains(e.LastError, tc.want) {
					t.Errorf("last error %q, want it to contain %q", e.LastError, tc.want)
				}
				key := strings.TrimPrefix(callbackSecret, "whsec_")
				for what, text := range map[string]string{"last error": e.LastError, "log": logs.String()} {
					for _, s := range []string{urlToken, key, "whsec_"} {
						if strings.Contains(text, s) {
							t.Errorf("%s contains %q: %s", what, s, text)
						}
					}
				}
			})
		}
	})
}

// Delivered events past the retention are pruned; recent ones and
// undelivered ones, however old, stay.
func TestPrunesDeliveredEvents(t *testing.T) {
	storetest.Each(t, func(t *testing.T, ctx context.Context, st *store.Store) {
		clk := newClock()
		now := clk.Now()
		add := func(id string, delivered *time.Time) {
			e := &store.Event{ID: id, Type: "drift.detected", Organization: "acme", Cluster: "prod-1", Data: "{}",
				DeliveredAt: delivered, NextAttemptAt: now.Add(24 * time.Hour)}
			if err := st.AddEvent(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		old, recent := now.Add(-8*24*time.Hour), now.Add(-6*24*time.Hour)
		add("delivered-8-days-ago", &old)
		add("delivered-6-days-ago", &recent)
		add("undelivered", nil)
		d := outbox.New(st, "http://127.0.0.1:1/unused", secret(t), outbox.Options{Now: clk.Now})
		run(t, d)
		eventually(t, 10*time.Second, "pruning", func() bool { _, ok := events(t, st)["delivered-8-days-ago"]; return !ok })
		got := events(t, st)
		for _, id := range []string{"delivered-6-days-ago", "undelivered"} {
			if _, ok := got[id]; !ok {
				t.Errorf("%s was pruned", id)
			}
		}
	})
}

func TestBodyOfEmptyAndInvalidData(t *testing.T) {
	// Exercised through a receiver: empty data goes out as {}; data that is
	// not JSON is never sent and is reported as the event's last error.
	storetest.Each(t, func(t *testing.T, ctx context.Context, st *store.Store) {
		recv := newReceiver(t, nil)
		empty := &store.Event{ID: "evt-empty", Type: "credential.expiring", Organization: "acme", Cluster: "a"}
		broken := &store.Event{ID: "evt-broken", Type: "credential.expiring", Organization: "acme", Cluster: "b", Data: "{not json"}
		for _, e := range []*store.Event{empty, broken} {
			if err := st.AddEvent(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		d := outbox.New(st, recv.url, secret(t), outbox.Options{PollInterval: 10 * time.Millisecond, BackoffBase: time.Hour})
		run(t, d)
		eventually(t, 10*time.Second, "both attempted", func() bool {
			es := events(t, st)
			return es["evt-empty"].DeliveredAt != nil && es["evt-broken"].Attempts == 1
		})
		if got := recv.all(); len(got) != 1 || string(got[0].Body.Data) != "{}" {
			t.Fatalf("receipts: %+v", got)
		}
		if e := events(t, st)["evt-broken"]; !strings.Contains(e.LastError, "not valid JSON") {
			t.Fatalf("broken event: last error %q", e.LastError)
		}
	})
}
