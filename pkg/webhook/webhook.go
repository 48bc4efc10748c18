// Package webhook signs and verifies HTTP messages per the Standard Webhooks
// specification, the scheme of both directions of pushd's contract with Odoo:
// Odoo signs its writes to pushd, pushd signs its callbacks to Odoo.
//
//	webhook-id:        unique message id
//	webhook-timestamp: Unix seconds
//	webhook-signature: space-separated "v1,<base64(HMAC-SHA256(key, id.timestamp.payload))>"
//
// For callbacks the payload is the body. For writes to pushd the payload is
// bound to its target (Bound): the request's method and path, a newline, then
// the body, so a signed request cannot be re-aimed at another route. Any
// Standard Webhooks library signs it: pass Bound(…) as the payload.
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

// MaxIDLength bounds a webhook-id: it is stored as an idempotency key.
const MaxIDLength = 255

// MinKeyBytes is the shortest key pushd accepts for its own secrets (128 bits).
const MinKeyBytes = 16

// Errors a verification fails with; callers answer 401 for each but ErrBadID (400).
var (
	ErrMissingHeaders = errors.New("missing webhook-id, webhook-timestamp or webhook-signature header")
	ErrBadID          = errors.New("webhook-id must be 1 to 255 printable ASCII characters (spaces included)")
	ErrBadTimestamp   = errors.New("webhook-timestamp is not Unix seconds (digits only)")
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

// Len is the key's length in bytes.
func (s Secret) Len() int { return len(s.key) }

// Bound is the payload signed for a write to pushd: method, a space, the
// request target as sent (path, plus "?query" if any), a newline, the body.
func Bound(method, target string, body []byte) []byte {
	out := make([]byte, 0, len(method)+len(target)+2+len(body))
	out = append(out, method...)
	out = append(out, ' ')
	out = append(out, target...)
	out = append(out, '\n')
	return append(out, body...)
}

// Sign returns the v1 signature of a message.
func (s Secret) Sign(id string, ts time.Time, payload []byte) string {
	return s.sign(id, strconv.FormatInt(ts.Unix(), 10), payload)
}

func (s Secret) sign(id, ts string, payload []byte) string {
	mac := hmac.New(sha256.New, s.key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(payload)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// SetHeaders signs payload and sets the three headers on h.
func (s Secret) SetHeaders(h http.Header, id string, ts time.Time, payload []byte) {
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, s.Sign(id, ts, payload))
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

// Message is a message's signature headers, checked for form and freshness.
type Message struct {
	ID        string
	Timestamp time.Time
	// rawTimestamp is the header as sent: what was signed.
	rawTimestamp string
	signatures   []string
}

// Parse checks a message's headers — present, well-formed, timestamp within
// the window — without its body, so a request that cannot be valid is
// refused before its body is read.
func (v *Verifier) Parse(h http.Header) (Message, error) {
	id, tsRaw, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || tsRaw == "" || sigs == "" {
		return Message{}, ErrMissingHeaders
	}
	if !validID(id) {
		return Message{}, ErrBadID
	}
	sec, ok := parseUnix(tsRaw)
	if !ok {
		return Message{}, ErrBadTimestamp
	}
	ts := time.Unix(sec, 0)
	if d := v.now().Sub(ts); d > v.tolerance || d < -v.tolerance {
		return Message{}, ErrStale
	}
	return Message{ID: id, Timestamp: ts, rawTimestamp: tsRaw, signatures: strings.Fields(sigs)}, nil
}

// Match checks m's signatures against payload.
func (v *Verifier) Match(m Message, payload []byte) error {
	for _, secret := range v.secrets {
		want := secret.sign(m.ID, m.rawTimestamp, payload)
		for _, got := range m.signatures {
			if hmac.Equal([]byte(got), []byte(want)) {
				return nil
			}
		}
	}
	return ErrNoMatch
}

// Verify checks the headers of one message against its raw payload.
func (v *Verifier) Verify(h http.Header, payload []byte) (Message, error) {
	m, err := v.Parse(h)
	if err != nil {
		return Message{}, err
	}
	return m, v.Match(m, payload)
}

// parseUnix reads canonical decimal seconds: digits only, no sign, no
// leading zero, so one signed value has one spelling.
func parseUnix(s string) (int64, bool) {
	if len(s) == 0 || len(s) > 18 || (s[0] == '0' && len(s) > 1) {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

func validID(id string) bool {
	if len(id) > MaxIDLength {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x20 || id[i] > 0x7e {
			return false
		}
	}
	return true
}
