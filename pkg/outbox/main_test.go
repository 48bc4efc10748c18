package outbox_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/pkg/outbox"
	"github.com/vworkspace/pushd/pkg/store"
	"github.com/vworkspace/pushd/pkg/webhook"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

// callbackSecret signs every callback in these tests.
const callbackSecret = "whsec_Y2FsbGJhY2stc2VjcmV0LWZvci10ZXN0cw=="

func secret(t *testing.T) webhook.Secret {
	t.Helper()
	s, err := webhook.ParseSecret(callbackSecret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// clock is a settable clock shared by a Deliverer and the receiver's verifier.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

// newClock starts a second ahead of the wall clock, so events written now
// are due.
func newClock() *clock { return &clock{now: time.Now().Add(time.Second)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// receipt is one request the receiver got.
type receipt struct {
	WebhookID string
	SignedAt  time.Time // webhook-timestamp
	Body      outbox.Body
	Raw       []byte
	Status    int // what the receiver answered; 0 if the sender went away first
}

// receiver is a callback endpoint that verifies every request's signature
// with pkg/webhook (refusing bad ones with 401, which fails the test) and
// answers what respond says.
type receiver struct {
	t        *testing.T
	url      string
	verifier *webhook.Verifier

	mu       sync.Mutex
	respond  func(b outbox.Body, attempt int) int // attempt counts this id's requests from 1
	receipts []receipt
}

func newReceiver(t *testing.T, now func() time.Time) *receiver {
	return newReceiverWith(t, now, callbackSecret)
}

// newReceiverWith is a receiver that verifies with key (whsec_…) only.
func newReceiverWith(t *testing.T, now func() time.Time, key string) *receiver {
	k, err := webhook.ParseSecret(key)
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{t: t, verifier: webhook.NewVerifier([]webhook.Secret{k}, now)}
	r.respond = func(outbox.Body, int) int { return http.StatusOK }
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	r.url = srv.URL + "/odoo/callbacks"
	return r
}

// newClockedReceiver is a test clock and a receiver that checks
// signatures by it: the tests that move time by hand start with both.
func newClockedReceiver(t *testing.T) (*clock, *receiver) {
	clk := newClock()
	return clk, newReceiver(t, clk.Now)
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	raw, _ := io.ReadAll(req.Body)
	msg, err := r.verifier.Verify(req.Header, raw)
	if err != nil {
		r.t.Errorf("receiver: signature rejected: %v", err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var b outbox.Body
	if err := json.Unmarshal(raw, &b); err != nil {
		r.t.Errorf("receiver: body %s: %v", raw, err)
	}
	if b.ID != msg.ID {
		r.t.Errorf("receiver: body id %q, webhook-id %q", b.ID, msg.ID)
	}
	r.mu.Lock()
	attempt := 1
	for _, rc := range r.receipts {
		if rc.WebhookID == msg.ID {
			attempt++
		}
	}
	r.receipts = append(r.receipts, receipt{WebhookID: msg.ID, SignedAt: msg.Timestamp, Body: b, Raw: raw})
	i := len(r.receipts) - 1
	respond := r.respond
	r.mu.Unlock()

	status := respond(b, attempt) // may block (a slow receiver)
	if req.Context().Err() != nil {
		return // the sender gave up
	}
	r.mu.Lock()
	r.receipts[i].Status = status
	r.mu.Unlock()
	w.WriteHeader(status)
	if status >= 300 {
		fmt.Fprintf(w, "receiver says no (%d)", status)
	}
}

func (r *receiver) setRespond(f func(b outbox.Body, attempt int) int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.respond = f
}

func (r *receiver) all() []receipt {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]receipt(nil), r.receipts...)
}

// delivered lists the ids answered 2xx, in the order they arrived.
func (r *receiver) delivered() []string {
	var ids []string
	for _, rc := range r.all() {
		if rc.Status >= 200 && rc.Status < 300 {
			ids = append(ids, rc.WebhookID)
		}
	}
	return ids
}

// addEvents writes n events of cluster, returning their ids in order.
func addEvents(t *testing.T, st *store.Store, cluster string, n int) []string {
	t.Helper()
	var ids []string
	for i := range n {
		e := &store.Event{
			ID:           fmt.Sprintf("evt_%s_%d_%d", cluster, i, time.Now().UnixNano()),
			Type:         "job.status_changed",
			Organization: "acme",
			Cluster:      cluster,
			Data:         fmt.Sprintf(`{"id":"job-%s-%d","status":"running","n":%d}`, cluster, i, i),
		}
		if err := st.AddEvent(context.Background(), e); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.ID)
	}
	return ids
}

// run starts d and returns a stop that cancels it and waits for Run to return.
func run(t *testing.T, d *outbox.Deliverer) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Error("Run did not return after its context ended")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// events returns every event row by id.
func events(t *testing.T, st *store.Store) map[string]store.Event {
	t.Helper()
	es, err := st.Events(context.Background(), "", 100000)
	if err != nil {
		t.Fatal(err)
	}
	m := make(map[string]store.Event, len(es))
	for _, e := range es {
		m[e.ID] = e
	}
	return m
}

func allDelivered(t *testing.T, st *store.Store, ids []string) func() bool {
	return func() bool {
		es := events(t, st)
		for _, id := range ids {
			if es[id].DeliveredAt == nil {
				return false
			}
		}
		return true
	}
}

func debugLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
