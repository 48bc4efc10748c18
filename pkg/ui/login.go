package ui

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/vworkspace/pushd/pkg/api"
)

// Logging in and out: an API token for a session cookie, and the session
// every page but the login form requires.

// sessionKey holds the request's session once requireSession found it, so
// the anti-forgery check and the page's layout do not look it up again.
const sessionKey = "ui.session"

// sessionOf returns the live session of the request's cookie. A request
// that may change state (anything but GET and HEAD) asks the database, so
// a session logged out on another replica cannot act here even for the
// few seconds a page may still show (sessionRecheck).
func (u *server) sessionOf(c echo.Context) (session, bool) {
	if sess, ok := c.Get(sessionKey).(session); ok {
		return sess, true
	}
	ck, err := c.Cookie(cookieName)
	if err != nil {
		return session{}, false
	}
	req := c.Request()
	fresh := req.Method != http.MethodGet && req.Method != http.MethodHead
	sess, ok := u.sessions.lookup(req.Context(), ck.Value, fresh)
	return sess, ok && sess.org != "" // an empty organization would list every organization's clusters
}

// requireSession sends visitors without a live session to the login form.
func (u *server) requireSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		sess, ok := u.sessionOf(c)
		if !ok {
			return c.Redirect(http.StatusSeeOther, "/ui/login")
		}
		c.Set(sessionKey, sess)
		api.SetCaller(c, sess.caller())
		return next(c)
	}
}

// errSessionStore answers a login or logout the database could not record.
var errSessionStore = &api.Error{Status: http.StatusServiceUnavailable, Code: "unavailable",
	Message: "pushd could not record the session in its database: try again shortly"}

type loginPage struct {
	Error string
}

func (u *server) loginForm(c echo.Context) error {
	if _, ok := u.sessionOf(c); ok {
		return c.Redirect(http.StatusSeeOther, "/ui/")
	}
	return u.render(c, http.StatusOK, "login", loginPage{})
}

// login exchanges an API token for a session cookie. The token is checked
// exactly as a bearer token of the API is, and is never echoed back: first,
// so that a valid one passes from a client over its failure allowance (an
// organization behind another's flooding egress), as at the API.
func (u *server) login(c echo.Context) error {
	req := c.Request()
	req.Body = http.MaxBytesReader(c.Response(), req.Body, formBodyBytes)
	h := http.Header{}
	h.Set(echo.HeaderAuthorization, "Bearer "+strings.TrimSpace(c.FormValue("token")))
	who, ok := u.Auth.Token(h)
	if !ok {
		if err := u.Front.TooManyFailures(c); err != nil {
			return err
		}
		u.Front.AuthFailed(c)
		u.log.Info("ui login refused", "remote", req.RemoteAddr)
		return u.render(c, http.StatusUnauthorized, "login", loginPage{Error: "That token is not a valid API token."})
	}
	org := who.Org
	if old, err := c.Cookie(cookieName); err == nil {
		// A previous session of this browser; one the database could not
		// delete still expires, and the new cookie replaces it here.
		_ = u.sessions.end(req.Context(), old.Value, nil)
	}
	// The entry names the new session, which create fills in: that is who
	// the UI's later entries name; its subject is the token it was opened with.
	login := &AuditEntry{Organization: org, ActorKind: string(api.ActorUI), Action: api.AuditUILogin, Subject: "token:" + who.ID,
		Outcome: api.AuditOK, Status: http.StatusSeeOther}
	id, expires, err := u.sessions.create(req.Context(), org, login)
	if err != nil {
		u.log.Error("ui login failed: the session was not saved", "organization", org, "err", err)
		return errSessionStore
	}
	c.SetCookie(&http.Cookie{
		Name: cookieName, Value: id, Path: "/ui", Expires: expires, MaxAge: int(sessionTTL.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: u.Front.Secure(req),
	})
	u.log.Info("ui login", "organization", org, "remote", req.RemoteAddr)
	return c.Redirect(http.StatusSeeOther, "/ui/")
}

// logout ends the session for every replica (it is deleted from the
// database); when the database cannot delete it, the answer says so and
// the cookie is kept, so that the user can try again.
func (u *server) logout(c echo.Context) error {
	if ck, err := c.Cookie(cookieName); err == nil {
		who := api.CallerOf(c)
		if err := u.sessions.end(c.Request().Context(), ck.Value, &AuditEntry{Organization: who.Org, ActorKind: string(who.Kind), ActorID: who.ID,
			Action: api.AuditUILogout, Outcome: api.AuditOK, Status: http.StatusSeeOther}); err != nil {
			return errSessionStore
		}
	}
	c.SetCookie(&http.Cookie{
		Name: cookieName, Value: "", Path: "/ui", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: u.Front.Secure(c.Request()),
	})
	return c.Redirect(http.StatusSeeOther, "/ui/login")
}
