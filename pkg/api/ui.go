package api

import (
	"bytes"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/vworkspace/pushd/pkg/store"
	"github.com/vworkspace/pushd/web"
)

// The web UI: server-rendered pages of the organization's fleet (templates,
// CSS and one small script in web/), and a few actions: run a drift check,
// cancel a job or a request, re-send a parked callback.
//
// Live pages: a page whose content changes (the fleet, a cluster, a job, a
// request, an application) marks its changing sections with data-live and
// an id. /ui/static/live.js, the only script, fetches the same page every
// few seconds and swaps the sections whose HTML changed: no full reload, no
// flicker, and the CSP stays strict (script-src 'self', no inline script,
// no eval). A section that is done changing is rendered without data-live
// (a final job's page): the refresh that brings it is the last one. A
// running job's objects and their kstatus, its waiting and retries, are
// persisted as they change, so its page shows them within a refresh.
// Without JavaScript the pages work; they just do not refresh.
//
// Authentication: the login form takes one of the API read tokens
// (--api-tokens) and answers with a cookie holding a random session id that
// maps, in memory, to the token's organization (ui_session.go). The token
// itself is never stored in the cookie or anywhere else. Every page then
// reads with that organization, through the same registry and job service
// as the API, so another organization's cluster or job is a 404 here too.
//
// CSRF: every POST but the login carries the session's anti-forgery token
// (a hidden form field, compared in constant time; ui_csrf.go); the cookie
// is SameSite=Strict; and a POST a browser marks as cross-site
// (Sec-Fetch-Site) is refused. GETs change nothing. Every action is logged
// with the organization, the action and its subject.

const (
	uiCookie = "pushd_ui_session"
	// uiLoginBodyBytes bounds the login form: a token, nothing more.
	uiLoginBodyBytes = 8 << 10
)

// ui serves the web UI's pages.
type ui struct {
	s        *Server
	pages    *web.Pages
	sessions *uiSessions
	known    uiLastKnown
}

// routesUI registers the web UI under /ui.
func (s *Server) routesUI(e *echo.Echo) {
	pages, err := web.ParsePages()
	if err != nil {
		// The templates are embedded: this is a build defect, which web's own test catches.
		panic(err)
	}
	var db uiSessionStore
	if s.Store != nil { // a nil *store.Store would be a non-nil interface
		db = s.Store
	}
	u := &ui{s: s, pages: pages, sessions: newUISessions(uiSessionTTL, nil, db, s.log)}
	e.GET("/ui", func(c echo.Context) error { return c.Redirect(http.StatusMovedPermanently, "/ui/") })

	g := e.Group("/ui", uiHeaders, u.renderErrors)
	static := http.StripPrefix("/ui/static/", http.FileServerFS(web.Static()))
	g.GET("/static/*", echo.WrapHandler(static))
	g.GET("/login", u.loginForm)
	g.POST("/login", u.login)

	session, csrf, audit := u.requireSession, u.requireCSRF, s.audited
	g.POST("/logout", u.logout, session, csrf)
	g.GET("/", u.fleet, session)
	g.GET("/clusters/:id", u.cluster, session)
	g.GET("/clusters/:id/applications/:namespace/:application", u.application, session)
	g.GET("/jobs", u.jobs, session)
	g.GET("/jobs/:id", u.job, session)
	g.GET("/requests/:request_id", u.request, session)
	g.GET("/callbacks", u.callbacks, session)
	g.GET("/audit", u.audit, session)
	// audit before csrf: a post with a forged or stale token is a refused
	// attempt of the session, and the audit log shows those too.
	g.POST("/clusters/:id/drift-check", u.driftCheck, session, audit(store.AuditDriftCheckRequested, clusterInPath), csrf)
	g.POST("/jobs/:id/cancel", u.cancelJob, session, audit(store.AuditJobCancelled, subjectInPath), csrf)
	g.POST("/requests/:request_id/cancel", u.cancelRequest, session, audit(store.AuditRequestCancelled, requestInPath), csrf)
	g.POST("/callbacks/:id/resend", u.resendCallback, session, audit(store.AuditCallbackResent, subjectInPath), csrf)
	g.Any("/*", func(echo.Context) error { return echo.ErrNotFound }, session)
}

// uiHeaders sets the UI's security headers and refuses cross-site POSTs.
func uiHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		if c.Request().Method == http.MethodPost && c.Request().Header.Get("Sec-Fetch-Site") == "cross-site" {
			return &Error{Status: http.StatusForbidden, Code: "cross_site", Message: "cross-site form posts are refused"}
		}
		return next(c)
	}
}

// renderErrors renders a handler's error as an HTML page, with the status
// and public message of the one error mapper (toAPIError).
func (u *ui) renderErrors(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		err := next(c)
		if err == nil || c.Response().Committed {
			return err
		}
		e := toAPIError(err)
		req := c.Request()
		if e.Status >= 500 {
			u.s.log.Error("ui request failed", "method", req.Method, "path", req.URL.Path, "code", e.Code, "err", err)
		} else {
			u.s.log.Debug("ui request refused", "method", req.Method, "path", req.URL.Path, "code", e.Code, "err", err)
		}
		return u.render(c, e.Status, "error", uiError{Status: e.Status, StatusText: http.StatusText(e.Status), Message: e.Message})
	}
}

type uiError struct {
	Status     int
	StatusText string
	Message    string
}

// uiPage is what the layout gets: the organization logged in and the
// session's anti-forgery token (both empty on the login page), the page's
// own data, and what the last action did (Notice).
type uiPage struct {
	Org, CSRF string
	Notice    string
	// Refresh is how often live.js refreshes the page's live sections, in seconds.
	Refresh int
	Data    any
}

// uiRefreshSeconds is how often live pages refresh: well inside the default
// probe interval (15s), so a cluster that goes down shows within one.
const uiRefreshSeconds = 3

// render executes page into a buffer first, so a template error becomes an
// error page instead of half a page.
func (u *ui) render(c echo.Context, status int, page string, data any) error {
	var buf bytes.Buffer
	sess, _ := u.sessionOf(c)
	p := uiPage{Org: sess.org, CSRF: sess.csrf, Notice: uiNotices[c.QueryParam("done")], Refresh: uiRefreshSeconds, Data: data}
	if err := u.pages.Execute(&buf, page, p); err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.HTMLBlob(status, buf.Bytes())
}

// sessionOf returns the live session of the request's cookie.
func (u *ui) sessionOf(c echo.Context) (uiSession, bool) {
	ck, err := c.Cookie(uiCookie)
	if err != nil {
		return uiSession{}, false
	}
	sess, ok := u.sessions.lookup(c.Request().Context(), ck.Value)
	return sess, ok && sess.org != "" // an empty organization would list every organization's clusters
}

// requireSession sends visitors without a live session to the login form.
func (u *ui) requireSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		sess, ok := u.sessionOf(c)
		if !ok {
			return c.Redirect(http.StatusSeeOther, "/ui/login")
		}
		c.Set(callerKey, sess.caller())
		return next(c)
	}
}

type uiLogin struct {
	Error string
}

func (u *ui) loginForm(c echo.Context) error {
	if _, ok := u.sessionOf(c); ok {
		return c.Redirect(http.StatusSeeOther, "/ui/")
	}
	return u.render(c, http.StatusOK, "login", uiLogin{})
}

// login exchanges an API token for a session cookie. The token is checked
// exactly as a bearer token of the API is, and is never echoed back.
func (u *ui) login(c echo.Context) error {
	req := c.Request()
	if err := u.s.tooManyFailures(c); err != nil {
		return err
	}
	req.Body = http.MaxBytesReader(c.Response(), req.Body, uiLoginBodyBytes)
	h := http.Header{}
	h.Set(echo.HeaderAuthorization, "Bearer "+strings.TrimSpace(c.FormValue("token")))
	who, ok := u.s.Auth.token(h)
	if !ok {
		u.s.authFailed(c)
		u.s.log.Info("ui login refused", "remote", req.RemoteAddr)
		return u.render(c, http.StatusUnauthorized, "login", uiLogin{Error: "That token is not a valid API token."})
	}
	org := who.org
	if old, err := c.Cookie(uiCookie); err == nil {
		u.sessions.end(req.Context(), old.Value, nil)
	}
	// The entry names the new session, which create fills in: that is who
	// the UI's later entries name; its subject is the token it was opened with.
	login := &store.AuditEntry{Organization: org, ActorKind: store.ActorUI, Action: store.AuditUILogin, Subject: "token:" + who.id,
		Outcome: store.AuditOK, Status: http.StatusSeeOther}
	id, expires := u.sessions.create(req.Context(), org, login)
	c.SetCookie(&http.Cookie{
		Name: uiCookie, Value: id, Path: "/ui", Expires: expires, MaxAge: int(uiSessionTTL.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: u.s.secure(req),
	})
	u.s.log.Info("ui login", "organization", org, "remote", req.RemoteAddr)
	return c.Redirect(http.StatusSeeOther, "/ui/")
}

func (u *ui) logout(c echo.Context) error {
	if ck, err := c.Cookie(uiCookie); err == nil {
		who := callerOf(c)
		u.sessions.end(c.Request().Context(), ck.Value, &store.AuditEntry{Organization: who.org, ActorKind: who.kind, ActorID: who.id,
			Action: store.AuditUILogout, Outcome: store.AuditOK, Status: http.StatusSeeOther})
	}
	c.SetCookie(&http.Cookie{
		Name: uiCookie, Value: "", Path: "/ui", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: u.s.secure(c.Request()),
	})
	return c.Redirect(http.StatusSeeOther, "/ui/login")
}
