package outbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/vworkspace/pushd/pkg/store"
)

// Body is a callback's JSON body, as the contract fixes it.
type Body struct {
	Type         string          `json:"type"`
	ID           string          `json:"id"`
	Timestamp    string          `json:"timestamp"` // RFC 3339, UTC: when the event happened
	Organization string          `json:"organization"`
	Cluster      string          `json:"cluster"`
	Data         json.RawMessage `json:"data"`
}

// body renders an event as its callback body. The stored data is passed
// through as it is; empty data is an empty object.
func body(e store.Event) ([]byte, error) {
	data := json.RawMessage(e.Data)
	if strings.TrimSpace(e.Data) == "" {
		data = json.RawMessage("{}")
	}
	if !json.Valid(data) {
		return nil, errors.New("event data is not valid JSON")
	}
	return json.Marshal(Body{
		Type:         e.Type,
		ID:           e.ID,
		Timestamp:    e.CreatedAt.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano),
		Organization: e.Organization,
		Cluster:      e.Cluster,
		Data:         data,
	})
}

// attempt sends one claimed event and records the outcome; it reports
// whether the event is done with (delivered or parked), so that the cluster's
// next event may be sent at once.
func (d *Deliverer) attempt(ctx context.Context, e store.Event) bool {
	log := d.log.With("event", e.ID, "type", e.Type, "organization", e.Organization, "cluster", e.Cluster, "attempt", e.Attempts+1)
	start := d.opts.Now()
	err := d.send(ctx, e, start)
	if err == nil {
		// The receiver has it: record that even when shutting down, or it
		// would be sent again for nothing.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := d.st.MarkEventDelivered(rctx, e.Seq, d.opts.Now()); err != nil {
			log.WarnContext(ctx, "outbox: delivered, but recording it failed; it will be sent again", "err", err)
			return false
		}
		d.opts.Metrics.delivered(e.Type)
		log.DebugContext(ctx, "outbox: delivered")
		return true
	}
	if ctx.Err() != nil {
		// Shutting down mid-attempt: not the receiver's failure. Hand the
		// event back so another replica takes it without waiting for the
		// lease to end (a context that outlives ctx, bounded, to do so).
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := d.st.ReleaseEvent(rctx, e.Seq, d.opts.Owner); err != nil {
			log.WarnContext(ctx, "outbox: release claim on shutdown", "err", err)
		}
		return false
	}
	d.opts.Metrics.failed(err)
	now := d.opts.Now()
	if d.spent(e, err, now) {
		owned, rerr := d.st.MarkEventParked(ctx, e.Seq, d.opts.Owner, now, err.Error())
		switch {
		case rerr != nil:
			log.WarnContext(ctx, "outbox: parking an event failed", "err", rerr, "attempt_err", err)
		case !owned:
			log.WarnContext(ctx, "outbox: attempt failed after its claim lapsed; the new owner retries", "err", err)
		default:
			d.opts.Metrics.parked(e.Type)
			log.ErrorContext(ctx, "outbox: event parked: its attempt budget is spent; the cluster's later events go on, and it is sent again only on request", "err", err)
			return true // the cluster's next event is due now
		}
		return false
	}
	next := now.Add(backoff(e.Attempts+1, d.opts.BackoffBase, d.opts.BackoffMax, jitter()))
	owned, rerr := d.st.MarkEventFailed(ctx, e.Seq, d.opts.Owner, next, err.Error())
	switch {
	case rerr != nil:
		log.WarnContext(ctx, "outbox: recording a failed attempt failed", "err", rerr, "attempt_err", err)
	case !owned:
		log.WarnContext(ctx, "outbox: attempt failed after its claim lapsed; the new owner retries", "err", err)
	default:
		log.WarnContext(ctx, "outbox: attempt failed", "err", err, "next_attempt_at", next.UTC().Format(time.RFC3339))
	}
	return false
}

// spent reports whether the attempt of e that just failed with err used up
// its budget (see Options.ParkAfter, MaxAttempts and MaxAge).
func (d *Deliverer) spent(e store.Event, err error, now time.Time) bool {
	attempts := e.Attempts + 1
	if refusedForGood(err) {
		return attempts >= d.opts.ParkAfter
	}
	return attempts >= d.opts.MaxAttempts && now.Sub(e.CreatedAt) >= d.opts.MaxAge
}

// refusedForGood reports whether the receiver answered with a status that
// sending the same event again will not change: a 4xx other than 408
// (Request Timeout) and 429 (Too Many Requests).
func refusedForGood(err error) bool {
	var ae *attemptError
	if !errors.As(err, &ae) {
		return false
	}
	return ae.Status >= 400 && ae.Status < 500 && ae.Status != http.StatusRequestTimeout && ae.Status != http.StatusTooManyRequests
}

// attemptError is why an attempt failed, worded for LastError and logs: it
// names the status or the transport failure, never the callback URL (which
// may carry a token) nor anything signed with the secret.
type attemptError struct {
	Status     int    // the receiver's status; 0 when it never answered
	Reason     string // a short description
	NoReceiver bool   // nothing was sent: the organization has no receiver
}

func (e *attemptError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("receiver answered %d %s", e.Status, e.Reason)
	}
	return e.Reason
}

// send makes one signed POST of e at time at to its organization's
// receiver; with none, it sends nothing and fails.
func (d *Deliverer) send(ctx context.Context, e store.Event, at time.Time) error {
	rcv, ok := d.receiver(e.Organization)
	if !ok {
		return &attemptError{NoReceiver: true, Reason: fmt.Sprintf("no callback receiver for organization %q: not sent (configure its callback URL and secret)", e.Organization)}
	}
	b, err := body(e)
	if err != nil {
		return &attemptError{Reason: err.Error()}
	}
	ctx, cancel := context.WithTimeout(ctx, d.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rcv.URL, bytes.NewReader(b))
	if err != nil {
		return &attemptError{Reason: "bad callback URL"}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "pushd-callbacks")
	rcv.Secret.SetHeaders(req.Header, e.ID, at, b)
	resp, err := d.opts.Client.Do(req)
	if err != nil {
		return &attemptError{Reason: transportReason(ctx, err, d.opts.Timeout)}
	}
	defer resp.Body.Close()
	// Read a little for the error text, and drain a little more so the
	// connection can be reused; a larger answer is cut off.
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	reason := http.StatusText(resp.StatusCode)
	if s := printable(snippet); s != "" {
		reason += ": " + s
	}
	return &attemptError{Status: resp.StatusCode, Reason: reason}
}

// transportReason describes a failure to get an answer without the URL that
// url.Error would print.
func transportReason(ctx context.Context, err error, timeout time.Duration) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Sprintf("no answer within %s", timeout)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return "post: " + err.Error()
}

// printable is a receiver's answer fit for one log line.
func printable(b []byte) string {
	s := strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' ' // also keeps NUL, which PostgreSQL text refuses, out
		}
		return r
	}, strings.ToValidUTF8(string(b), "?"))
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "") + "…"
	}
	return s
}
