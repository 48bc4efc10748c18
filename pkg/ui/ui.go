package ui

import (
	"bytes"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/vworkspace/pushd/pkg/api"
	"github.com/vworkspace/pushd/web"
)

const (
	cookieName = "pushd_ui_session"
	// formBodyBytes bounds the UI's forms: a token, an anti-forgery token, a
	// page to go back to; nothing more.
	formBodyBytes = 8 << 10
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

// server serves the web UI's pages.
type server struct {
	Deps
	log      *slog.Logger
	pages    *web.Pages
	sessions *sessions
	known    lastKnown
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
	u := &server{Deps: deps, log: opts.Logger, pages: pages, sessions: newSessions(sessionTTL, nil, deps.Sessions, opts.Logger)}
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

	g := e.Group("/ui", securityHeaders, u.renderErrors)
	static := http.StripPrefix("/ui/static/", http.FileServerFS(web.Static()))
	g.GET("/static/*", echo.WrapHandler(static))
	g.GET("/login", u.loginForm)
	g.POST("/login", u.login)

	signedIn, csrf, audit := u.requireSession, u.requireCSRF, deps.Front.Audited
	g.POST("/logout", u.logout, signedIn, csrf)
	g.GET("/", u.fleet, signedIn)
	g.GET("/clusters/:id", u.cluster, signedIn)
	g.GET("/clusters/:id/applications/:namespace/:application", u.application, signedIn)
	g.GET("/jobs", u.jobs, signedIn)
	g.GET("/jobs/:id", u.job, signedIn)
	g.GET("/requests/:request_id", u.request, signedIn)
	g.GET("/callbacks", u.callbacks, signedIn)
	g.GET("/audit", u.audit, signedIn)
	// audit before csrf: a post with a forged or stale token is a refused
	// attempt of the session, and the audit log shows those too.
	g.POST("/clusters/:id/drift-check", u.driftCheck, signedIn, audit(api.AuditDriftCheckRequested, api.ClusterInPath), csrf)
	g.POST("/jobs/:id/cancel", u.cancelJob, signedIn, audit(api.AuditJobCancelled, api.SubjectInPath), csrf)
	g.POST("/requests/:request_id/cancel", u.cancelRequest, signedIn, audit(api.AuditRequestCancelled, api.RequestInPath), csrf)
	g.POST("/callbacks/:id/resend", u.resendCallback, signedIn, audit(api.AuditCallbackResent, api.SubjectInPath), csrf)
	g.Any("/*", func(echo.Context) error { return echo.ErrNotFound }, signedIn)
	return e
}

// organization is the organization of the request's session.
func organization(c echo.Context) string { return api.CallerOf(c).Org }

// securityHeaders sets the UI's security headers and refuses cross-site POSTs.
func securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
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
func (u *server) renderErrors(next echo.HandlerFunc) echo.HandlerFunc {
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
		return u.render(c, e.Status, "error", errorPage{Status: e.Status, StatusText: http.StatusText(e.Status), Message: e.Message})
	}
}

type errorPage struct {
	Status     int
	StatusText string
	Message    string
}

// layoutData is what the layout gets: the organization logged in and the
// session's anti-forgery token (both empty on the login page), the page's
// own data, and what the last action did (Notice).
type layoutData struct {
	Org, CSRF string
	Notice    string
	// Refresh is how often live.js refreshes the page's live sections, in seconds.
	Refresh int
	Data    any
}

// refreshSeconds is how often live pages refresh: well inside the default
// probe interval (15s), so a cluster that goes down shows within one.
const refreshSeconds = 3

// render executes page into a buffer first, so a template error becomes an
// error page instead of half a page.
func (u *server) render(c echo.Context, status int, page string, data any) error {
	var buf bytes.Buffer
	sess, _ := u.sessionOf(c)
	p := layoutData{Org: sess.org, CSRF: sess.csrf, Notice: notices[c.QueryParam("done")], Refresh: refreshSeconds, Data: data}
	if err := u.pages.Execute(&buf, page, p); err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.HTMLBlob(status, buf.Bytes())
}
