package ui

import (
	"crypto/subtle"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/vworkspace/pushd/pkg/api"
)

// csrfField is the hidden form field that carries the session's
// anti-forgery token.
const csrfField = "csrf"

// requireCSRF refuses a POST whose form does not carry the session's
// anti-forgery token. SameSite=Strict and Sec-Fetch-Site already stop
// cross-site posts in current browsers; the token also stops them where
// those are missing (an old browser, a proxy that strips headers, a
// same-site page on another port).
func (u *server) requireCSRF(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		req.Body = http.MaxBytesReader(c.Response(), req.Body, formBodyBytes)
		sess, ok := u.sessionOf(c)
		got := c.FormValue(csrfField)
		if !ok || got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(sess.csrf)) != 1 {
			u.log.Warn("ui action refused: missing or wrong anti-forgery token", "method", req.Method, "path", req.URL.Path, "remote", req.RemoteAddr)
			return &api.Error{Status: http.StatusForbidden, Code: "csrf", Message: "this form has expired or was not sent by pushd's UI: reload the page and try again"}
		}
		return next(c)
	}
}
