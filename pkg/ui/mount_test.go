package ui_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vworkspace/pushd/pkg/api"
	"github.com/vworkspace/pushd/pkg/config"
	"github.com/vworkspace/pushd/pkg/ui"
)

const acmeToken = "acme-read-token-0123456789abcdef"

// mounted is the UI mounted in a bare API server (a token, no database, no
// cluster), as pushd serve mounts it.
func mounted(t *testing.T, opts api.Options) *httptest.Server {
	t.Helper()
	auth, err := api.NewAuthenticator(nil, []config.Credential{{Organization: "acme", Value: acmeToken}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := api.New(api.Deps{Auth: auth}, opts)
	srv.Mount("/ui", ui.New(ui.Deps{Front: srv, Auth: auth}, ui.Options{}))
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return ts
}

func login(t *testing.T, ts *httptest.Server, token string, header http.Header) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, ts.URL+"/ui/login", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// The UI has a router of its own, inside the API server's: a guesser who
// sends a new X-Forwarded-For with every wrong login is still one client
// (no proxy is trusted), and is answered 429 like at the API.
func TestMountedLoginFailuresShareTheAPILimit(t *testing.T) {
	ts := mounted(t, api.Options{AuthFailureBurst: 3})
	limited := 0
	for i := range 10 {
		h := http.Header{"X-Forwarded-For": {"203.0.113." + string(rune('1'+i))}, "X-Real-Ip": {"198.51.100." + string(rune('1'+i))}}
		if login(t, ts, "wrong-token-0123456789abcdef0123", h).StatusCode == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited == 0 {
		t.Fatal("10 wrong logins with forged forwarding headers: none answered 429")
	}
}

// Requests to the UI are counted under the UI's route patterns, as they
// were when the API server routed them itself, never under its raw paths.
func TestMountedRoutesAreMetered(t *testing.T) {
	reg := prometheus.NewRegistry()
	ts := mounted(t, api.Options{Registry: reg})
	if r := login(t, ts, acmeToken, nil); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", r.StatusCode)
	}
	resp, err := http.Get(ts.URL + "/ui/jobs/j-123")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = http.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`code="303",method="POST",route="/ui/login"`, `method="GET",route="/ui/jobs/:id"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %s:\n%s", want, grep(string(b), "pushd_http_requests_total"))
		}
	}
}

func grep(s, word string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, word) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
