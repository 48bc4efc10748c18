package ui_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/vworkspace/pushd/pkg/api"
)

// TestLoginAndLogout: without a session every page leads to the login
// form; a login takes an API read token, never a webhook secret, and
// answers a session cookie that does not hold the token; the login and the
// logout are written with their session; a logged-out cookie replayed is
// worthless; a cross-site post is refused.
func TestLoginAndLogout(t *testing.T) {
	d := newDemo()
	s := serve(t, d.deps, api.Options{})
	acme := s.client(t)
	for _, path := range []string{"/ui/", "/ui/clusters/acme-prod-1", "/ui/jobs/" + d.job, "/ui/nowhere"} {
		if p := acme.get(path); p.status != http.StatusSeeOther || p.header.Get("Location") != "/ui/login" {
			t.Errorf("unauthenticated %s: %d %v, want a redirect to the login form", path, p.status, p.header)
		}
	}
	p := acme.get("/ui/login")
	if p.status != http.StatusOK {
		t.Fatalf("login form: %d", p.status)
	}
	mustContain(t, "login form", p, `name="token"`, `action="/ui/login"`)
	if css := acme.get("/ui/static/style.css"); css.status != http.StatusOK || !strings.HasPrefix(css.header.Get("Content-Type"), "text/css") {
		t.Fatalf("style.css: %d %s", css.status, css.header.Get("Content-Type"))
	}

	for _, bad := range []string{"", "wrong", acmeToken + "x", acmeSecret} {
		p := acme.login(bad)
		if p.status != http.StatusUnauthorized || p.header.Get("Set-Cookie") != "" {
			t.Fatalf("login with %q: %d %v, want 401 and no cookie", bad, p.status, p.header)
		}
		mustContain(t, "refused login", p, "not a valid API token", `name="token"`)
		if bad != "" {
			mustNotContain(t, "refused login", p, bad)
		}
	}
	if len(d.sessions.Rows) != 0 || len(d.sessions.Audit) != 0 {
		t.Fatalf("refused logins wrote sessions: %+v", d.sessions)
	}

	p = acme.login(acmeToken)
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/ui/" {
		t.Fatalf("login: %d %v", p.status, p.header)
	}
	setCookie := p.header.Get("Set-Cookie")
	for _, attr := range []string{"pushd_ui_session=", "HttpOnly", "SameSite=Strict", "Path=/ui"} {
		if !strings.Contains(setCookie, attr) {
			t.Errorf("session cookie %q lacks %s", setCookie, attr)
		}
	}
	if strings.Contains(setCookie, acmeToken) {
		t.Fatal("the session cookie holds the API token")
	}
	cookie := strings.SplitN(setCookie, ";", 2)[0]
	id := strings.TrimPrefix(cookie, "pushd_ui_session=")
	hash := sha256.Sum256([]byte(id))
	row, ok := d.sessions.Rows[hex.EncodeToString(hash[:])]
	if !ok || row.Organization != "acme" || len(d.sessions.Rows) != 1 {
		t.Fatalf("the session is not kept by the hash of its id: %+v", d.sessions.Rows)
	}
	tokenHash := sha256.Sum256([]byte(acmeToken))
	session := api.FingerprintOf(hash)
	if len(d.sessions.Audit) != 1 {
		t.Fatalf("audit entries written with the session: %+v, want the login", d.sessions.Audit)
	}
	if e := d.sessions.Audit[0]; e.Organization != "acme" || e.ActorKind != "ui" || e.ActorID != session || e.Action != api.AuditUILogin ||
		e.Subject != "token:"+api.FingerprintOf(tokenHash) || e.Outcome != api.AuditOK || e.Status != http.StatusSeeOther {
		t.Errorf("login entry: %+v", e)
	}
	mustContain(t, "fleet", acme.get("/ui/"), "organization <strong>acme</strong>")

	p = acme.post("/ui/logout", url.Values{"csrf": {acme.csrf()}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/ui/login" {
		t.Fatalf("logout: %d %v", p.status, p.header)
	}
	if p := acme.get("/ui/"); p.status != http.StatusSeeOther {
		t.Fatalf("after logout: %d, want a redirect to the login form", p.status)
	}
	if len(d.sessions.Rows) != 0 || len(d.sessions.Audit) != 2 {
		t.Fatalf("after logout: sessions %+v, audit %+v", d.sessions.Rows, d.sessions.Audit)
	}
	if e := d.sessions.Audit[1]; e.ActorKind != "ui" || e.ActorID != session || e.Action != api.AuditUILogout || e.Outcome != api.AuditOK {
		t.Errorf("logout entry: %+v", e)
	}
	// The server forgot the session: the old cookie, replayed, is worthless.
	req, _ := http.NewRequest(http.MethodGet, s.url+"/ui/", nil)
	req.Header.Set("Cookie", cookie)
	if p := s.client(t).do(req); p.status != http.StatusSeeOther || p.header.Get("Location") != "/ui/login" {
		t.Fatalf("replayed cookie after logout: %d, want a redirect to the login form", p.status)
	}

	req, _ = http.NewRequest(http.MethodPost, s.url+"/ui/login", strings.NewReader("token="+acmeToken))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if p := s.client(t).do(req); p.status != http.StatusForbidden {
		t.Fatalf("cross-site login: %d", p.status)
	}
	if strings.Contains(s.logs.String(), acmeToken) {
		t.Error("the token reached the log")
	}
}

// A login the database cannot record is refused (no cookie: no replica
// but this one could know the session, nor end it). A logout while the
// database is down is sent to the login form like any POST whose session
// cannot be confirmed, and the session lives on, to be logged out again.
func TestLoginAndLogoutTheDatabaseCannotRecord(t *testing.T) {
	d := newDemo()
	s := serve(t, d.deps, api.Options{})
	d.sessions.Err = errors.New("database down")
	c := s.client(t)
	if p := c.login(acmeToken); p.status != http.StatusServiceUnavailable || p.header.Get("Set-Cookie") != "" {
		t.Fatalf("login without a database: %d %v, want 503 and no cookie", p.status, p.header)
	}
	d.sessions.Err = nil
	c = s.loggedIn(t, acmeToken)
	csrf := c.csrf()
	d.sessions.Err = errors.New("database down")
	if p := c.post("/ui/logout", url.Values{"csrf": {csrf}}); p.status != http.StatusSeeOther || p.header.Get("Location") != "/ui/login" {
		t.Fatalf("logout with the database down: %d %v, want a redirect to the login form", p.status, p.header)
	}
	if len(d.sessions.Rows) != 1 {
		t.Fatalf("sessions: %+v, want the session kept", d.sessions.Rows)
	}
	d.sessions.Err = nil
	if p := c.get("/ui/"); p.status != http.StatusOK {
		t.Fatalf("after the failed logout: %d, want the session to live on", p.status)
	}
}
