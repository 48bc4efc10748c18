package pushdclient

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// Credentials are what Odoo holds for one pushd: the webhook secret that
// signs its writes and the API token of its reads.
type Credentials struct {
	wh    *standardwebhooks.Webhook
	token string
}

// NewCredentials parses webhookSecret (whsec_…); apiToken is sent as is.
func NewCredentials(webhookSecret, apiToken string) (*Credentials, error) {
	wh, err := standardwebhooks.NewWebhook(webhookSecret)
	if err != nil {
		return nil, fmt.Errorf("webhook secret: %w", err)
	}
	return &Credentials{wh: wh, token: apiToken}, nil
}

// Edit is a RequestEditorFn (give it to the client WithRequestEditorFn). A
// GET gets the bearer token. Any other request is signed: the generated
// client has already set webhook-id and webhook-timestamp from the
// operation's parameters, and Edit signs, with the Standard Webhooks
// library, the payload pushd expects for a write — the method, a space, the
// request target, a newline, then the body — so a signed request cannot be
// replayed against another route.
func (c *Credentials) Edit(_ context.Context, req *http.Request) error {
	if req.Method == http.MethodGet {
		req.Header.Set("Authorization", "Bearer "+c.token)
		return nil
	}
	id := req.Header.Get(standardwebhooks.HeaderWebhookID)
	ts, err := strconv.ParseInt(req.Header.Get(standardwebhooks.HeaderWebhookTimestamp), 10, 64)
	if id == "" || err != nil {
		return fmt.Errorf("%s %s: a write needs the webhook-id and webhook-timestamp parameters", req.Method, req.URL.Path)
	}
	var body []byte
	if req.Body != nil {
		if body, err = io.ReadAll(req.Body); err != nil {
			return fmt.Errorf("%s %s: read body: %w", req.Method, req.URL.Path, err)
		}
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	payload := make([]byte, 0, len(req.Method)+len(req.URL.RequestURI())+2+len(body))
	payload = append(append(append(append(payload, req.Method...), ' '), req.URL.RequestURI()...), '\n')
	payload = append(payload, body...)
	sig, err := c.wh.Sign(id, time.Unix(ts, 0), payload)
	if err != nil {
		return fmt.Errorf("%s %s: sign: %w", req.Method, req.URL.Path, err)
	}
	req.Header.Set(standardwebhooks.HeaderWebhookSignature, sig)
	return nil
}

// Message is a fresh webhook-id and the current webhook-timestamp, for a
// write's parameters (each write operation's Params has these two fields).
// Sending the same id again is a retry: pushd answers it with the first
// outcome.
func Message() (id string, timestamp int64) {
	b := make([]byte, 12)
	rand.Read(b) // never fails (crypto/rand)
	return "msg_" + hex.EncodeToString(b), time.Now().Unix()
}
