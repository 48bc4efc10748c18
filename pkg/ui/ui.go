package ui

import (
	"bytes"
	"log/slog"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/vworkspace/pushd/pkg/api"
	"github.com/vworkspace/pushd/pkg/store"
	"github.com/vworkspace/pushd/web"
)

const (
	uiCookie = "pushd_ui_session"
	// uiLoginBodyBytes bounds the login form: a token, nothing more.
	uiLoginBodyBytes = 8 << 10
)

// Deps are the UI's collaborators. Front, Auth, Clusters, Health and Jobs
// are required; the others are optional, as their comments say.
type Deps struct {
	Front    Front
	Auth     Tokens
	Clusters Clusters
	Health   Health
	Jobs     Jobs
	// Manifests shows what a job was submitted with; nil leaves it out.
	Manifests Manifests
	// Clients reads a drifted field's live value; nil leaves it out.
	Clients Clients
	// Inventory serves the applications; nil leaves them out.
	Inventory Inventory
	// Callbacks serves the parked callbacks; nil when callbacks are off.
	Callbacks Callbacks
	// Events are the cluster page's history; nil shows none.
	Events Events
	// Audit serves the audit page; nil shows an empty log.
	Audit AuditLog
	// Sessions keeps UI sessions across restarts; nil keeps them in memory.
	Sessions Sessions
}

// Options are the UI's optional knobs.
type Options struct {
	// Logger; discarded when nil.
	Logger *slog.Logger
}

// ui serves the web UI's pages.
type ui struct {
	Deps
	log      *slog.Logger
	pages    *web.Pages
	sessions *uiSessions
	known    uiLastKnown
}

// New builds the web UI, to be mounted at /ui (api.Server.Mount).
func New(deps Deps, opts Options) http.Handler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	pages, err := web.ParsePages()
	if err != nil {
		// The templates are embedded: this is a build defect, which web's own test catches.
		panic(err)
	}
	u := &ui{Deps: deps, log: opts.Logger, pages: pages, sessions: newUISessions(uiSessionTTL, nil, deps.Sessions, opts.Logger)}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = deps.Front.HandleError
	// The failure limit names clients with the API server's extractor;
	// nothing here reads forwarded headers.
	e.IPExtractor = echo.ExtractIPDirect()
	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			api.SetRoute(c.Request(), c.Path())
			return next(c)
		}
	})
	e.GET("/ui", func(c echo.Context) error { return c.Redirect(http.StatusMovedPermanently, "/ui/") })

	g := e.Group("/ui", uiHeaders, u.renderErrors)
	static := http.StripPrefix("/ui/static/", http.FileServerFS(web.Static()))
	g.GET("/static/*", echo.WrapHandler(static))
	g.GET("/login", u.loginForm)
	g.POST("/login", u.login)

	session, csrf, audit := u.requireSession, u.requireCSRF, deps.Front.Audited
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
	g.POST("/clusters/:id/drift-check", u.driftCheck, session, audit(store.AuditDriftCheckRequested, api.ClusterInPath), csrf)
	g.POST("/jobs/:id/cancel", u.cancelJob, session, audit(store.AuditJobCancelled, api.SubjectInPath), csrf)
	g.POST("/requests/:request_id/cancel", u.cancelRequest, session, audit(store.AuditRequestCancelled, api.RequestInPath), csrf)
	g.POST("/callbacks/:id/resend", u.resendCallback, session, audit(store.AuditCallbackResent, api.SubjectInPath), csrf)
	g.Any("/*", func(echo.Context) error { return echo.ErrNotFound }, session)
	return e
}

// organization is the organization of the request's session.
func organization(c echo.Context) string { return api.CallerOf(c).Org }

// uiHeaders sets the UI's security headers and refuses cross-site POSTs.
func uiHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		if c.Request().Method == http.MethodPost && c.Request().Header.Get("Sec-Fetch-Site") == "cross-site" {
			return &api.Error{Status: http.StatusForbidden, Code: "cross_site", Message: "cross-site form posts are refused"}
		}
		return next(c)
	}
}

// renderErrors renders a handler's error as an HTML page, with the status
// and public message of the one error mapper (ErrorOf).
func (u *ui) renderErrors(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		err := next(c)
		if err == nil || c.Response().Committed {
			return err
		}
		e := api.ErrorOf(err)
		req := c.Request()
		if e.Status >= 500 {
			u.log.Error("ui request failed", "method", req.Method, "path", req.URL.Path, "code", e.Code, "err", err)
		} else {
			u.log.Debug("ui request refused", "method", req.Method, "path", req.URL.Path, "code", e.Code, "err", err)
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
		api.SetCaller(c, sess.caller())
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
	if err := u.Front.TooManyFailures(c); err != nil {
		return err
	}
	req.Body = http.MaxBytesReader(c.Response(), req.Body, uiLoginBodyBytes)
	h := http.Header{}
	h.Set(echo.HeaderAuthorization, "Bearer "+strings.TrimSpace(c.FormValue("token")))
	who, ok := u.Auth.Token(h)
	if !ok {
		u.Front.AuthFailed(c)
		u.log.Info("ui login refused", "remote", req.RemoteAddr)
		return u.render(c, http.StatusUnauthorized, "login", uiLogin{Error: "That token is not a valid API token."})
	}
	org := who.Org
	if old, err := c.Cookie(uiCookie); err == nil {
		u.sessions.end(req.Context(), old.Value, nil)
	}
	// The entry names the new session, which create fills in: that is who
	// the UI's later entries name; its subject is the token it was opened with.
	login := &store.AuditEntry{Organization: org, ActorKind: store.ActorUI, Action: store.AuditUILogin, Subject: "token:" + who.ID,
		Outcome: store.AuditOK, Status: http.StatusSeeOther}
	id, expires := u.sessions.create(req.Context(), org, login)
	c.SetCookie(&http.Cookie{
		Name: uiCookie, Value: id, Path: "/ui", Expires: expires, MaxAge: int(uiSessionTTL.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: u.Front.Secure(req),
	})
	u.log.Info("ui login", "organization", org, "remote", req.RemoteAddr)
	return c.Redirect(http.StatusSeeOther, "/ui/")
}

func (u *ui) logout(c echo.Context) error {
	if ck, err := c.Cookie(uiCookie); err == nil {
		who := api.CallerOf(c)
		u.sessions.end(c.Request().Context(), ck.Value, &store.AuditEntry{Organization: who.Org, ActorKind: who.Kind, ActorID: who.ID,
			Action: store.AuditUILogout, Outcome: store.AuditOK, Status: http.StatusSeeOther})
	}
	c.SetCookie(&http.Cookie{
		Name: uiCookie, Value: "", Path: "/ui", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: u.Front.Secure(c.Request()),
	})
	return c.Redirect(http.StatusSeeOther, "/ui/login")
}
