package pushdclient_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/vworkspace/pushd/examples/go/pushdclient"
)

// callback is one callback received, verified and decoded.
type callback struct {
	webhookID string
	body      []byte
	// event is the concrete type the Event union's discriminator chose
	// (pushdclient.JobStatusChangedEvent, …).
	event any
}

// receiver is Odoo's callback endpoint: it verifies each signature with
// the Standard Webhooks library, decodes the body through the generated
// Event union and answers 204; a callback that fails either is answered
// 401 or 400 and noted as a problem. It never calls t itself (callbacks
// may arrive from pushd's outbox at any time); close returns what it saw.
type receiver struct {
	url string
	srv *httptest.Server
	wh  *standardwebhooks.Webhook

	mu       sync.Mutex
	got      []callback
	seen     map[string]bool // webhook-ids: a retry is delivered again, recorded once
	problems []string
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(callbackSecret)
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{wh: wh, seen: map[string]bool{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	r.url = r.srv.URL
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	id := req.Header.Get(standardwebhooks.HeaderWebhookID)
	if err := r.wh.Verify(body, req.Header); err != nil {
		r.problem("callback %q: %v\n%s", id, err, body)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	ev, err := decodeEvent(body)
	if err != nil {
		r.problem("callback %q: %v\n%s", id, err, body)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var env pushdclient.EventEnvelope
	if err := json.Unmarshal(body, &env); err != nil || env.Id != id || env.Organization != organization {
		r.problem("callback %q: envelope %+v (%v): want its id to be the webhook-id, organization %q", id, env, err, organization)
	}
	r.mu.Lock()
	if !r.seen[id] {
		r.seen[id] = true
		r.got = append(r.got, callback{webhookID: id, body: body, event: ev})
	}
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// decodeEvent decodes a callback body through the generated Event union:
// its discriminator (type) picks the concrete type, into which the body
// must decode.
func decodeEvent(body []byte) (any, error) {
	var ev pushdclient.Event
	if err := json.Unmarshal(body, &ev); err != nil {
		return nil, fmt.Errorf("not an Event: %w", err)
	}
	v, err := ev.ValueByDiscriminator()
	if err != nil {
		return nil, fmt.Errorf("Event union: %w", err)
	}
	return v, nil
}

func (r *receiver) problem(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
}

// waitFor waits until done holds for the callbacks received so far.
func (r *receiver) waitFor(t *testing.T, done func([]callback) bool, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		r.mu.Lock()
		got := append([]callback(nil), r.got...)
		r.mu.Unlock()
		if done(got) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s, %d callbacks and not those awaited", within, len(got))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// close stops the receiver and returns every callback and problem.
func (r *receiver) close() ([]callback, []string) {
	r.srv.Close()
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]callback(nil), r.got...), append([]string(nil), r.problems...)
}

// jobStatuses are the statuses the job's job.status_changed callbacks
// carried, in arrival order.
func jobStatuses(cbs []callback, job string) []pushdclient.JobStatus {
	var out []pushdclient.JobStatus
	for _, cb := range cbs {
		if ev, ok := cb.event.(pushdclient.JobStatusChangedEvent); ok && ev.Data.Id == job {
			out = append(out, ev.Data.Status)
		}
	}
	return out
}

// completions are the request.completed callbacks of a request, in
// arrival order.
func completions(cbs []callback, request pushdclient.RequestId) []pushdclient.RequestView {
	var out []pushdclient.RequestView
	for _, cb := range cbs {
		if ev, ok := cb.event.(pushdclient.RequestCompletedEvent); ok && ev.Data.RequestId == request {
			out = append(out, ev.Data)
		}
	}
	return out
}
