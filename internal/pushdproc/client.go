package pushdproc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/vworkspace/pushd/pkg/webhook"
)

// Client is Odoo talking to a pushd: writes signed with a webhook secret,
// reads with a bearer token; and the scraper, reading /metrics with the
// metrics token. It keeps no connection state, so it outlives the
// processes it talks to.
type Client struct {
	// Base is http://host:port.
	Base string
	// Secret signs writes (whsec_…); Token authorizes reads; MetricsToken
	// (PUSHD_METRICS_TOKEN) reads /metrics, which no read token opens.
	Secret, Token, MetricsToken string
	// HTTP is the client used; http.DefaultClient when nil.
	HTTP *http.Client
}

// Response is one answer, with the request it answers (for contract checks).
type Response struct {
	Request *http.Request
	Status  int
	Header  http.Header
	Body    []byte
}

// Write sends a signed write with webhook-id id. Sending the same id again
// is a retry, as Odoo makes one: pushd answers it with the first outcome.
// The signature is made afresh for each call (a retry is signed when sent).
func (c *Client) Write(ctx context.Context, method, path, id string, body []byte) (*Response, error) {
	s, err := webhook.ParseSecret(c.Secret)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	s.SetHeaders(req.Header, id, time.Now(), webhook.Bound(method, req.URL.RequestURI(), body))
	return c.do(req)
}

// Read sends a GET with the bearer token path needs: the metrics token for
// /metrics, the read token for everything else.
func (c *Client) Read(ctx context.Context, path string) (*Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Base+path, nil)
	if err != nil {
		return nil, err
	}
	token := c.Token
	if req.URL.Path == "/metrics" {
		token = c.MetricsToken
	}
	req.Header.Set("Authorization", "Bearer "+token)
	return c.do(req)
}

// JobStatus reads a job's status through the API.
func (c *Client) JobStatus(ctx context.Context, id string) (string, error) {
	r, err := c.Read(ctx, "/api/v1/jobs/"+id)
	if err != nil {
		return "", err
	}
	if r.Status != http.StatusOK {
		return "", fmt.Errorf("job %q: %d %s", id, r.Status, r.Body)
	}
	var j struct{ Status string }
	if err := json.Unmarshal(r.Body, &j); err != nil {
		return "", fmt.Errorf("job %q: %w", id, err)
	}
	return j.Status, nil
}

func (c *Client) do(req *http.Request) (*Response, error) {
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return &Response{Request: req, Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}
