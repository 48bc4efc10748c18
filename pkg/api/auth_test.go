package api_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vworkspace/pushd/internal/apitest"
	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/pkg/webhook"
)

// A signed write is bound to its method and path: the headers of a signed
// cancel (empty body) do not delete a cluster, and a signature over the body
// alone (plain Standard Webhooks) is refused with a reason.
func TestSignedWriteCannotBeReaimed(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		e := newEnv(t, db)
		if r := e.Write(t, http.MethodPut, "/api/v1/clusters/acme-prod-1", apitest.AcmeSecret, apitest.MustJSON(t, apitest.Record("nextcloud"))); r.Status != http.StatusCreated {
			t.Fatalf("create: %d %s", r.Status, r.Body)
		}
		key, _ := webhook.ParseSecret(apitest.AcmeSecret)
		seen := http.Header{}
		key.SetHeaders(seen, "msg-cancel-7", time.Now(), webhook.Bound(http.MethodPost, "/api/v1/jobs/job-7/cancel", nil))

		req, _ := http.NewRequest(http.MethodDelete, e.URL+"/api/v1/clusters/acme-prod-1", nil)
		req.Header = seen.Clone()
		if r := apitest.Do(t, req); r.Status != http.StatusUnauthorized || r.Code(t) != "bad_signature" {
			t.Fatalf("re-aimed DELETE: %d %s, want 401 bad_signature", r.Status, r.Body)
		}
		if r := e.Read(t, "/api/v1/clusters/acme-prod-1", apitest.AcmeToken); r.Status != http.StatusOK {
			t.Fatalf("the cluster is gone after a re-aimed write: %d %s", r.Status, r.Body)
		}

		unbound := http.Header{}
		key.SetHeaders(unbound, "msg-unbound", time.Now(), nil)
		req, _ = http.NewRequest(http.MethodDelete, e.URL+"/api/v1/clusters/acme-prod-1", nil)
		req.Header = unbound
		r := apitest.Do(t, req)
		if r.Status != http.StatusUnauthorized || !strings.Contains(string(r.Body), "method and path") {
			t.Fatalf("unbound signature: %d %s, want 401 naming the method and path", r.Status, r.Body)
		}
	})
}

// rawRequest writes head (and an incomplete body) on a raw connection and
// returns how long the server took to answer or close it, and what it said.
func rawRequest(t *testing.T, addr, head string, wait time.Duration) (time.Duration, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := conn.Write([]byte(head)); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(wait))
	var got bytes.Buffer
	buf := make([]byte, 4096)
	for {
		n, err := conn.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("connection still open after %s; got %q", wait, got.String())
			}
			return time.Since(start), got.String()
		}
	}
}

// Signature headers and the timestamp are checked before the body is read:
// a stale write is refused while its body is still on the way.
func TestStaleSignatureRefusedBeforeBody(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		e := newEnv(t, db)
		u, _ := url.Parse(e.URL)
		key, _ := webhook.ParseSecret(apitest.AcmeSecret)
		h := http.Header{}
		key.SetHeaders(h, "msg-stale", time.Now().Add(-time.Hour), nil)
		head := "POST /api/v1/jobs HTTP/1.1\r\nHost: pushd\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n" +
			"webhook-id: msg-stale\r\nwebhook-timestamp: " + h.Get("webhook-timestamp") + "\r\nwebhook-signature: " + h.Get("webhook-signature") + "\r\n\r\n{"
		_, got := rawRequest(t, u.Host, head, 5*time.Second)
		if !strings.HasPrefix(got, "HTTP/1.1 401") {
			t.Fatalf("answer %q, want 401 before the body", got)
		}
	})
}

// An over-long webhook-id is a 400, before any signature is checked or id stored.
func TestWebhookIDIsBounded(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		e := newEnv(t, db)
		id := strings.Repeat("x", 200<<10)
		r := e.Signed(t, http.MethodPut, "/api/v1/clusters/acme-prod-1", apitest.AcmeSecret, id, time.Now(), apitest.MustJSON(t, apitest.Record("nextcloud")))
		if r.Status != http.StatusBadRequest || r.Code(t) != "invalid_webhook_id" {
			t.Fatalf("200 KB webhook-id: %d %s, want 400 invalid_webhook_id", r.Status, r.Body)
		}
		r = e.Signed(t, http.MethodPut, "/api/v1/clusters/acme-prod-1", apitest.AcmeSecret, strings.Repeat("x", webhook.MaxIDLength), time.Now(), apitest.MustJSON(t, apitest.Record("nextcloud")))
		if r.Status != http.StatusCreated {
			t.Fatalf("longest webhook-id: %d %s", r.Status, r.Body)
		}
	})
}

// clientFrom is an HTTP client whose connections come from local address ip
// (any 127/8 address is this machine's loopback): another client, as far
// as pushd can tell.
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{
		Transport:     &http.Transport{DialContext: func(ctx context.Context, n, a string) (net.Conn, error) { return d.DialContext(ctx, n, a) }},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Guessing is slowed per client: after a burst of failures a client gets
// 429 with Retry-After — for UI logins, bearer tokens and signatures alike —
// while the right credential still works from another client.
func TestFailedAuthenticationIsRateLimited(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		e := newEnv(t, db)
		guesser, owner := clientFrom("127.0.0.2"), clientFrom("127.0.0.3")
		login := func(c *http.Client, token string) apitest.Response {
			req, _ := http.NewRequest(http.MethodPost, e.URL+"/ui/login", strings.NewReader(url.Values{"token": {token}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return apitest.DoWith(t, c, req)
		}
		bearer := func(c *http.Client, token string) apitest.Response {
			req, _ := http.NewRequest(http.MethodGet, e.URL+"/api/v1/clusters", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			return apitest.DoWith(t, c, req)
		}
		signed := func(c *http.Client, secret string) apitest.Response {
			key, _ := webhook.ParseSecret(secret)
			body := apitest.MustJSON(t, apitest.Record("nextcloud"))
			req, _ := http.NewRequest(http.MethodPut, e.URL+"/api/v1/clusters/acme-prod-1", bytes.NewReader(body))
			key.SetHeaders(req.Header, "rl-"+time.Now().Format(time.RFC3339Nano), time.Now(), webhook.Bound(http.MethodPut, "/api/v1/clusters/acme-prod-1", body))
			return apitest.DoWith(t, c, req)
		}
		for _, tt := range []struct {
			name  string
			wrong func() apitest.Response
			right func() apitest.Response
			ok    int
		}{
			{"ui login", func() apitest.Response { return login(guesser, "wrong-token-0123456789abcdef0123") }, func() apitest.Response { return login(owner, apitest.AcmeToken) }, http.StatusSeeOther},
			{"bearer", func() apitest.Response { return bearer(guesser, "wrong-token-0123456789abcdef0123") }, func() apitest.Response { return bearer(owner, apitest.AcmeToken) }, http.StatusOK},
			{"signature", func() apitest.Response { return signed(guesser, "whsec_d3Jvbmcta2V5LTAxMjM0NTY3ODk=") }, func() apitest.Response { return signed(owner, apitest.AcmeSecret) }, 0},
		} {
			t.Run(tt.name, func(t *testing.T) {
				limited := 0
				var last apitest.Response
				for range 20 {
					if last = tt.wrong(); last.Status == http.StatusTooManyRequests {
						limited++
					}
				}
				if limited == 0 || last.Status != http.StatusTooManyRequests || last.Header.Get("Retry-After") == "" {
					t.Fatalf("20 wrong attempts: %d answered 429, last %d Retry-After %q", limited, last.Status, last.Header.Get("Retry-After"))
				}
				if r := tt.right(); r.Status == http.StatusTooManyRequests || r.Status == http.StatusUnauthorized || (tt.ok != 0 && r.Status != tt.ok) {
					t.Fatalf("the right credential from another client: %d", r.Status)
				}
			})
		}
	})
}

// Organizations behind one egress address do not lock each other out: a
// flood of wrong tokens from an address makes its wrong attempts 429, while
// a valid bearer token or signature from the same address is let through.
// A guess cannot use that door: tokens and keys are at least 128 random
// bits (checked at start), so the limiter only has to slow guessing down.
func TestValidCredentialPassesAFloodFromItsAddress(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		e := newEnv(t, db)
		shared := clientFrom("127.0.0.5")
		bearer := func(token string) apitest.Response {
			req, _ := http.NewRequest(http.MethodGet, e.URL+"/api/v1/clusters", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			return apitest.DoWith(t, shared, req)
		}
		signed := func(secret string) apitest.Response {
			key, _ := webhook.ParseSecret(secret)
			body := apitest.MustJSON(t, apitest.Record("nextcloud"))
			req, _ := http.NewRequest(http.MethodPut, e.URL+"/api/v1/clusters/acme-prod-1", bytes.NewReader(body))
			key.SetHeaders(req.Header, "flood-"+time.Now().Format(time.RFC3339Nano), time.Now(), webhook.Bound(http.MethodPut, "/api/v1/clusters/acme-prod-1", body))
			return apitest.DoWith(t, shared, req)
		}
		var last apitest.Response
		for range 20 {
			last = bearer("wrong-token-0123456789abcdef0123")
		}
		if last.Status != http.StatusTooManyRequests {
			t.Fatalf("20 wrong tokens: the last answered %d, want 429", last.Status)
		}
		if r := bearer(apitest.AcmeToken); r.Status != http.StatusOK {
			t.Fatalf("acme's valid token from the flooded address: %d %s, want 200", r.Status, r.Body)
		}
		if r := signed(apitest.GlobexSecret); r.Status == http.StatusTooManyRequests || r.Status == http.StatusUnauthorized {
			t.Fatalf("globex's valid signature from the flooded address: %d %s", r.Status, r.Body)
		}
		if r := bearer("wrong-token-0123456789abcdef0123"); r.Status != http.StatusTooManyRequests {
			t.Fatalf("a wrong token after the valid ones: %d, want still 429", r.Status)
		}
		if r := signed("whsec_d3Jvbmcta2V5LTAxMjM0NTY3ODk="); r.Status != http.StatusTooManyRequests {
			t.Fatalf("a wrong signature from the flooded address: %d, want 429", r.Status)
		}
	})
}
