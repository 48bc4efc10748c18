package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vworkspace/pushd/internal/contracttest"
	"github.com/vworkspace/pushd/internal/dbtest"
)

// uiClient is a browser-like client of the web UI: it keeps cookies and
// does not follow redirects, so tests see each answer.
type uiClient struct {
	e *env
	c *http.Client
}

func newUIClient(t *testing.T, e *env) *uiClient {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &uiClient{e: e, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (u *uiClient) do(t *testing.T, req *http.Request) response {
	t.Helper()
	resp, err := u.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	contracttest.Check(t, req, resp.StatusCode, resp.Header, b)
	return response{status: resp.StatusCode, body: b, header: resp.Header}
}

func (u *uiClient) get(t *testing.T, path string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u.e.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return u.do(t, req)
}

func (u *uiClient) post(t *testing.T, path string, form url.Values) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u.e.url+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return u.do(t, req)
}

// csrf is the session's anti-forgery token, as the fleet page's forms carry it.
func (u *uiClient) csrf(t *testing.T) string {
	t.Helper()
	r := u.get(t, "/ui/")
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(r.body)
	if m == nil {
		t.Fatalf("no anti-forgery token in the fleet page (%d):\n%s", r.status, r.body)
	}
	return string(m[1])
}

func (u *uiClient) login(t *testing.T, token string) response {
	t.Helper()
	return u.post(t, "/ui/login", url.Values{"token": {token}})
}

// uiFleet is what the UI tests look at: acme's ready cluster acme-prod-1 (with a
// namespace and a succeeded job), acme's cluster acme-canary-1 whose stored
// kubeconfig carries a canary token the API server refuses, and globex's
// cluster globex-1.
type uiFleet struct {
	ns, job, canary string
}

func newUIFleet(t *testing.T, e *env) uiFleet {
	t.Helper()
	ns, job := jobFixture(t, e)
	body := job(nil)
	var spec map[string]any
	if err := json.Unmarshal(body, &spec); err != nil {
		t.Fatal(err)
	}
	f := uiFleet{ns: ns, job: spec["id"].(string), canary: "canary-" + strings.Repeat("5ec12e7", 8)}
	if r := e.write(t, http.MethodPost, "/api/v1/jobs", acmeSecret, body); r.status != http.StatusAccepted {
		t.Fatalf("job: %d %s", r.status, r.body)
	}

	canary := record("nextcloud")
	canary["display_name"] = `<script>alert("x")</script> Staging`
	canary["labels"] = map[string]string{"env": "staging", "tier": "canary"}
	if r := e.write(t, http.MethodPut, "/api/v1/clusters/acme-canary-1", acmeSecret, mustJSON(t, canary)); r.status != http.StatusCreated {
		t.Fatalf("canary cluster: %d %s", r.status, r.body)
	}
	if r := e.write(t, http.MethodPut, "/api/v1/clusters/acme-canary-1/kubeconfig", acmeSecret, kubeconfig(t, f.canary, nil)); r.status != http.StatusOK {
		t.Fatalf("canary kubeconfig: %d %s", r.status, r.body)
	}
	globex := record("nextcloud")
	globex["display_name"] = "Globex Main"
	if r := e.write(t, http.MethodPut, "/api/v1/clusters/globex-1", globexSecret, mustJSON(t, globex)); r.status != http.StatusCreated {
		t.Fatalf("globex cluster: %d %s", r.status, r.body)
	}

	deadline := time.Now().Add(time.Minute)
	for {
		r := e.read(t, "/api/v1/jobs/"+f.job, acmeToken)
		if st := r.json(t)["status"]; st == "succeeded" {
			break
		} else if st == "failed" || time.Now().After(deadline) {
			t.Fatalf("job did not succeed: %s", r.body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return f
}

// mustContain fails unless body holds every want.
func mustContain(t *testing.T, what string, r response, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(string(r.body), w) {
			t.Errorf("%s does not contain %q:\n%s", what, w, r.body)
		}
	}
}

func mustNotContain(t *testing.T, what string, r response, unwanted ...string) {
	t.Helper()
	for _, w := range unwanted {
		if strings.Contains(string(r.body), w) {
			t.Errorf("%s contains %q", what, w)
		}
	}
}

// TestUIPages walks the UI as a browser would, over real HTTP: login
// refusals and success, the fleet, a cluster, a job, another
// organization's resources, logout; and no page ever shows a credential.
func TestUIPages(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		e := newEnv(t, db)
		f := newUIFleet(t, e)
		acme := newUIClient(t, e)
		var pages []response // every page served, checked for credentials at the end

		r := acme.get(t, "/ui/")
		if r.status != http.StatusSeeOther || r.header.Get("Location") != "/ui/login" {
			t.Fatalf("unauthenticated fleet: %d %v, want a redirect to the login form", r.status, r.header)
		}
		for _, path := range []string{"/ui/clusters/acme-prod-1", "/ui/jobs/" + f.job, "/ui/nowhere"} {
			if r := acme.get(t, path); r.status != http.StatusSeeOther || r.header.Get("Location") != "/ui/login" {
				t.Errorf("unauthenticated %s: %d, want a redirect to the login form", path, r.status)
			}
		}
		r = acme.get(t, "/ui/login")
		if r.status != http.StatusOK {
			t.Fatalf("login form: %d", r.status)
		}
		mustContain(t, "login form", r, `name="token"`, `action="/ui/login"`)
		if css := acme.get(t, "/ui/static/style.css"); css.status != http.StatusOK || !strings.HasPrefix(css.header.Get("Content-Type"), "text/css") {
			t.Fatalf("style.css: %d %s", css.status, css.header.Get("Content-Type"))
		}

		for _, bad := range []string{"", "wrong", acmeToken + "x", acmeSecret} {
			r := acme.login(t, bad)
			if r.status != http.StatusUnauthorized || r.header.Get("Set-Cookie") != "" {
				t.Fatalf("login with %q: %d %v, want 401 and no cookie", bad, r.status, r.header)
			}
			mustContain(t, "refused login", r, "not a valid API token", `name="token"`)
			if bad != "" {
				mustNotContain(t, "refused login", r, bad)
			}
		}

		r = acme.login(t, acmeToken)
		if r.status != http.StatusSeeOther || r.header.Get("Location") != "/ui/" {
			t.Fatalf("login: %d %v", r.status, r.header)
		}
		setCookie := r.header.Get("Set-Cookie")
		for _, attr := range []string{"pushd_ui_session=", "HttpOnly", "SameSite=Strict", "Path=/ui"} {
			if !strings.Contains(setCookie, attr) {
				t.Errorf("session cookie %q lacks %s", setCookie, attr)
			}
		}
		if strings.Contains(setCookie, acmeToken) {
			t.Fatal("the session cookie holds the API token")
		}
		sessionCookie := r.header.Values("Set-Cookie")[0]

		t.Run("fleet", func(t *testing.T) {
			r := acme.get(t, "/ui/")
			pages = append(pages, r)
			if r.status != http.StatusOK || r.header.Get("Cache-Control") != "no-store" {
				t.Fatalf("fleet: %d %v", r.status, r.header)
			}
			mustContain(t, "fleet", r,
				`href="/ui/clusters/acme-prod-1"`, "Production 1", "env=production", "state-ready",
				`href="/ui/clusters/acme-canary-1"`, "state-unauthorized", "tier=canary",
				"&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; Staging", // escaped, not run
				"1 succeeded", "1 allowed", "<th>Applications</th>", "organization <strong>acme</strong>")
			mustNotContain(t, "fleet", r, "globex-1", "Globex Main", "<script>")
		})

		t.Run("cluster", func(t *testing.T) {
			r := acme.get(t, "/ui/clusters/acme-prod-1")
			pages = append(pages, r)
			if r.status != http.StatusOK {
				t.Fatalf("cluster: %d %s", r.status, r.body)
			}
			mustContain(t, "cluster page", r,
				f.ns, "nextcloud", "manifest/deploy", "*/10 * * * *", "report", // the record
				`class="namespaces"`, `<td class="id">`+f.ns+`</td>`, // observed namespaces
				`<div class="mono bad">`,                        // the fixture's admin credential has excess rights
				`href="/ui/jobs/`+f.job+`"`, "status-succeeded", // its jobs
				"job.status_changed", "is succeeded", "cluster.connectivity_changed", // its events
				`class="applications"`, `/applications/`+f.ns+`/nextcloud">nextcloud</a>`, `<a class="id" href="/ui/jobs/`+f.job+`"`) // its applications
		})

		t.Run("job", func(t *testing.T) {
			r := acme.get(t, "/ui/jobs/"+f.job)
			pages = append(pages, r)
			if r.status != http.StatusOK {
				t.Fatalf("job: %d %s", r.status, r.body)
			}
			mustContain(t, "job page", r, f.job, `class="objects"`, "<td>ConfigMap<div", f.ns+"/settings", "kstatus-Current", "req-"+f.ns)
		})

		t.Run("unauthorized cluster", func(t *testing.T) {
			r := acme.get(t, "/ui/clusters/acme-canary-1")
			pages = append(pages, r)
			mustContain(t, "canary cluster page", r, "state-unauthorized", "&lt;script&gt;")
			mustNotContain(t, "canary cluster page", r, "<script>")
		})

		t.Run("other organizations are 404", func(t *testing.T) {
			for _, path := range []string{"/ui/clusters/globex-1", "/ui/clusters/nope", "/ui/jobs/nope", "/ui/nowhere"} {
				r := acme.get(t, path)
				pages = append(pages, r)
				if r.status != http.StatusNotFound || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
					t.Errorf("%s: %d %s, want a 404 page", path, r.status, r.header.Get("Content-Type"))
				}
				mustNotContain(t, path, r, "Globex Main")
			}
			globex := newUIClient(t, e)
			if r := globex.login(t, globexToken); r.status != http.StatusSeeOther {
				t.Fatalf("globex login: %d", r.status)
			}
			r := globex.get(t, "/ui/")
			pages = append(pages, r)
			mustContain(t, "globex fleet", r, "globex-1", "Globex Main")
			mustNotContain(t, "globex fleet", r, "acme-prod-1", "acme-canary-1")
			for _, path := range []string{"/ui/clusters/acme-prod-1", "/ui/jobs/" + f.job} {
				if r := globex.get(t, path); r.status != http.StatusNotFound {
					t.Errorf("globex reads acme's %s: %d", path, r.status)
				}
			}
		})

		t.Run("no credential in any page", func(t *testing.T) {
			for i, r := range pages {
				mustNotContain(t, "page "+string(rune('a'+i)), r, f.canary, bed.Clusters()[0].AdminToken, acmeToken, globexToken)
			}
			if strings.Contains(e.logs.String(), f.canary) || strings.Contains(e.logs.String(), acmeToken) {
				t.Error("a credential reached the log")
			}
		})

		t.Run("logout ends the session", func(t *testing.T) {
			r := acme.post(t, "/ui/logout", url.Values{"csrf": {acme.csrf(t)}})
			if r.status != http.StatusSeeOther || r.header.Get("Location") != "/ui/login" {
				t.Fatalf("logout: %d %v", r.status, r.header)
			}
			if r := acme.get(t, "/ui/"); r.status != http.StatusSeeOther {
				t.Fatalf("after logout: %d, want a redirect to the login form", r.status)
			}
			// The server forgot the session: the old cookie, replayed, is worthless.
			req, _ := http.NewRequest(http.MethodGet, e.url+"/ui/", nil)
			req.Header.Set("Cookie", strings.SplitN(sessionCookie, ";", 2)[0])
			if r := do(t, req); r.status != http.StatusOK || !strings.Contains(string(r.body), `name="token"`) {
				t.Fatalf("replayed cookie after logout: %d, want the login form", r.status)
			}
		})

		t.Run("cross-site posts are refused", func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, e.url+"/ui/login", strings.NewReader("token="+acmeToken))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Sec-Fetch-Site", "cross-site")
			if r := (&uiClient{e: e, c: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}).do(t, req); r.status != http.StatusForbidden {
				t.Fatalf("cross-site login: %d", r.status)
			}
		})
	})
}
