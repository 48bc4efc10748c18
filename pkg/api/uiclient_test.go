package api_test

import (
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/vworkspace/pushd/internal/apitest"
)

// uiClient is a browser-like client of the web UI mounted in the server,
// for the tests of what the UI shares with the API (the audit log, the
// failure limit, the job service): it keeps cookies and does not follow
// redirects, so tests see each answer. The UI's own tests are pkg/ui's.
type uiClient struct {
	e *apitest.Env
	c *http.Client
}

func newUIClient(t *testing.T, e *apitest.Env) *uiClient {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &uiClient{e: e, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (u *uiClient) get(t *testing.T, path string) apitest.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u.e.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return apitest.DoWith(t, u.c, req)
}

func (u *uiClient) post(t *testing.T, path string, form url.Values) apitest.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u.e.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return apitest.DoWith(t, u.c, req)
}

// csrf is the session's anti-forgery token, as the fleet page's forms carry it.
func (u *uiClient) csrf(t *testing.T) string {
	t.Helper()
	r := u.get(t, "/ui/")
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(r.Body)
	if m == nil {
		t.Fatalf("no anti-forgery token in the fleet page (%d):\n%s", r.Status, r.Body)
	}
	return string(m[1])
}

func (u *uiClient) login(t *testing.T, token string) apitest.Response {
	t.Helper()
	return u.post(t, "/ui/login", url.Values{"token": {token}})
}

// mustContain fails unless body holds every want.
func mustContain(t *testing.T, what string, r apitest.Response, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(string(r.Body), w) {
			t.Errorf("%s does not contain %q:\n%s", what, w, r.Body)
		}
	}
}

func mustNotContain(t *testing.T, what string, r apitest.Response, unwanted ...string) {
	t.Helper()
	for _, w := range unwanted {
		if strings.Contains(string(r.Body), w) {
			t.Errorf("%s contains %q", what, w)
		}
	}
}
