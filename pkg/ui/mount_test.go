package ui_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vworkspace/pushd/pkg/api"
)

// The UI has a router of its own, inside the API server's: a guesser who
// sends a new X-Forwarded-For with every wrong login is still one client
// (no proxy is trusted), and is answered 429 like at the API.
func TestMountedLoginFailuresShareTheAPILimit(t *testing.T) {
	s := serve(t, newDemo().deps, api.Options{AuthFailureBurst: 3})
	limited := 0
	for i := range 10 {
		c := s.client(t)
		req, _ := http.NewRequest(http.MethodPost, s.url+"/ui/login", strings.NewReader("token=wrong-token-0123456789abcdef0123"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", "203.0.113."+string(rune('1'+i)))
		req.Header.Set("X-Real-Ip", "198.51.100."+string(rune('1'+i)))
		if c.do(req).status == http.StatusTooManyRequests {
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
	const metricsToken = "ui-test-metrics-token-0123456789abcdef"
	s := serve(t, newDemo().deps, api.Options{Registry: reg, MetricsToken: metricsToken})
	s.loggedIn(t, acmeToken).get("/ui/jobs/j-123")
	req, _ := http.NewRequest(http.MethodGet, s.url+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+metricsToken)
	resp, err := http.DefaultClient.Do(req)
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
