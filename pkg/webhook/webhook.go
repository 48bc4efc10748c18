// Package webhook signs and verifies HTTP messages per the Standard Webhooks
// specification, the scheme of both directions of pushd's contract with Odoo:
// Odoo signs its writes to pushd, pushd signs its callbacks to Odoo.
//
//	webhook-id:        unique message id
//	webhook-timestamp: Unix seconds
//	webhook-signature: space-separated "v1,<base64(HMAC-SHA256(key, id.timestamp.body))>"
//
// Secrets are written "whsec_<base64 key>". A Verifier holds several (key
// rotation): a message is valid if any of its signatures verifies against any
// secret. Replay protection across messages (remembering ids) is the caller's:
// this package checks one message.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header names.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// DefaultTolerance is how far a timestamp may be in the past or the future.
const DefaultTolerance = 5 * time.Minute

// Errors a verification fails with; callers answer 401 for each.
var (
	ErrMissingHeaders = errors.New("missing webhook-id, webhook-timestamp or webhook-signature header")
	ErrBadTimestamp   = errors.New("webhook-timestamp is not Unix seconds")
	ErrStale          = errors.New("webhook-timestamp is outside the tolerated window")
	ErrNoMatch        = errors.New("no signature matches")
)

// Secret is one decoded key.
type Secret struct {
	key []byte
}

// ParseSecret decodes a "whsec_<base64>" secret.
func ParseSecret(s string) (Secret, error) {
	raw, ok := strings.CutPrefix(s, "whsec_")
	if !ok {
		return Secret{}, errors.New("webhook secret must start with whsec_")
	}
	key, err := base64.StdEncoding.DecodeString(raw)
	if err != nil || len(key) == 0 {
		return Secret{}, errors.New("webhook secret: whsec_ must be followed by base64")
	}
	return Secret{key: key}, nil
}

// Sign returns the v1 signature of a message.
func (s Secret) Sign(id string, ts time.Time, body []byte) string {
	mac := hmac.New(sha256.New, s.key)
	fmt.Fprintf(mac, "%s.%d.", id, ts.Unix())
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// SetHeaders signs body and sets the three headers on h.
func (s Secret) SetHeaders(h http.Header, id string, ts time.Time, body []byte) {
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, s.Sign(id, ts, body))
}

// Verifier checks messages against a set of secrets.
type Verifier struct {
	secrets   []Secret
	tolerance time.Duration
	now       func() time.Time
}

// NewVerifier returns a Verifier over secrets with DefaultTolerance and the
// wall clock; now may be nil.
func NewVerifier(secrets []Secret, now func() time.Time) *Verifier {
	if now == nil {
		now = time.Now
	}
	return &Verifier{secrets: secrets, tolerance: DefaultTolerance, now: now}
}

// Message is what a verified request carried.
type Message struct {
	ID        string
	Timestamp time.Time
}

// Verify checks the headers of one message against its raw body.
func (v *Verifier) Verify(h http.Header, body []byte) (Message, error) {
	id, tsRaw, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || tsRaw == "" || sigs == "" {
		return Message{}, ErrMissingHeaders
	}
	sec, err := strconv.ParseInt(tsRaw, 10, 64)
	if err != nil {
		return Message{}, ErrBadTimestamp
	}
	ts := time.Unix(sec, 0)
	if d := v.now().Sub(ts); d > v.tolerance || d < -v.tolerance {
		return Message{}, ErrStale
	}
	for _, secret := range v.secrets {
		want := secret.Sign(id, ts, body)
		for _, got := range strings.Fields(sigs) {
			if hmac.Equal([]byte(got), []byte(want)) {
				return Message{ID: id, Timestamp: ts}, nil
			}
		}
	}
	return Message{}, ErrNoMatch
}
