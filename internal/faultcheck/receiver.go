package faultcheck

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"

	"github.com/vworkspace/pushd/pkg/webhook"
)

// Delivery is one callback as Odoo's endpoint received it.
type Delivery struct {
	// WebhookID is the webhook-id header: the event's id, the same on
	// every retry of that event.
	WebhookID    string
	Type         string          `json:"type"`
	Organization string          `json:"organization"`
	Cluster      string          `json:"cluster"`
	Data         json.RawMessage `json:"data"`
	// Body is the request body as received.
	Body []byte `json:"-"`
}

// Receiver is Odoo's callback endpoint: it verifies every signature with the
// callback secret, answers 204 and records each delivery in arrival order.
// Close it when done (it is an httptest.Server).
type Receiver struct {
	URL string

	srv   *httptest.Server
	verf  *webhook.Verifier
	check func(body []byte)

	mu  sync.Mutex
	got []Delivery
	bad int
}

// NewReceiver starts a receiver for callbacks signed with secret (whsec_…).
// check, when not nil, sees every verified body (a contract check).
func NewReceiver(secret string, check func(body []byte)) (*Receiver, error) {
	s, err := webhook.ParseSecret(secret)
	if err != nil {
		return nil, err
	}
	r := &Receiver{verf: webhook.NewVerifier([]webhook.Secret{s}, nil), check: check}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	r.URL = r.srv.URL
	return r, nil
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	msg, err := r.verf.Verify(req.Header, body)
	if err != nil {
		r.mu.Lock()
		r.bad++
		r.mu.Unlock()
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	if r.check != nil {
		r.check(body)
	}
	d := Delivery{WebhookID: msg.ID, Body: body}
	if err := json.Unmarshal(body, &d); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.got = append(r.got, d)
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// Deliveries is a copy of everything received so far, in arrival order.
func (r *Receiver) Deliveries() []Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Delivery(nil), r.got...)
}

// BadSignatures counts the callbacks refused for their signature.
func (r *Receiver) BadSignatures() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bad
}

// Close stops the receiver.
func (r *Receiver) Close() { r.srv.Close() }
