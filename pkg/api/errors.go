package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/vworkspace/pushd/pkg/store"
)

// Error is an error with its HTTP answer. Message is public: it must never
// hold a credential. Err is the detail, logged and never sent.
type Error struct {
	Status  int
	Code    string
	Message string
	Details []any
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Code + ": " + e.Message + ": " + e.Err.Error()
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

type errorBody struct {
	Error errorPayload `json:"error"`
}

type errorPayload struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Details []any  `json:"details"`
}

// HandleError is the one place errors become HTTP answers: the API's, and
// the UI's for what it does not render as a page itself.
func (s *Server) HandleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	apiErr := ErrorOf(err)
	if apiErr.Code == "internal" && (store.Unavailable(err) || s.databaseDown(c.Request().Context())) {
		apiErr = &Error{Status: http.StatusServiceUnavailable, Code: "database_unavailable", Message: "the database is unavailable; retry later", Err: err}
		c.Response().Header().Set("Retry-After", "5")
	}
	if apiErr.Status >= 500 {
		s.log.Error("request failed", "method", c.Request().Method, "path", c.Request().URL.Path, "code", apiErr.Code, "err", err)
	} else {
		s.log.Debug("request refused", "method", c.Request().Method, "path", c.Request().URL.Path, "code", apiErr.Code, "err", err)
	}
	c.Set(errorCodeKey, apiErr.Code)
	details := apiErr.Details
	if details == nil {
		details = []any{}
	}
	body := errorBody{Error: errorPayload{Code: apiErr.Code, Message: apiErr.Message, Details: details}}
	if apiErr.Status == http.StatusTooManyRequests && c.Response().Header().Get("Retry-After") == "" {
		c.Response().Header().Set("Retry-After", "30")
	}
	if c.Request().Method == http.MethodHead {
		c.NoContent(apiErr.Status)
		return
	}
	c.JSON(apiErr.Status, body)
}

// databaseDown tells an outage of the database, which the caller should
// retry (503), from pushd's own failure (500): an unexpected error that
// does not say so itself (store.Unavailable) is followed by a ping.
func (s *Server) databaseDown(ctx context.Context) bool {
	if s.Store == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	return s.Store.Ping(ctx) != nil
}

// ErrorOf is the answer the one error mapper gives err: its status, code
// and public message, with err kept as the detail that is only logged.
func ErrorOf(err error) *Error {
	var apiErr *Error
	if errors.As(err, &apiErr) {
		return apiErr
	}
	if e := clusterError(err); e != nil {
		return e
	}
	if e := jobError(err); e != nil {
		return e
	}
	if e := inventoryError(err); e != nil {
		return e
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		switch he.Code {
		case http.StatusNotFound:
			return &Error{Status: he.Code, Code: "not_found", Message: "no such resource"}
		case http.StatusMethodNotAllowed:
			return &Error{Status: he.Code, Code: "method_not_allowed", Message: "method not allowed on this resource"}
		case http.StatusRequestEntityTooLarge:
			return &Error{Status: he.Code, Code: "body_too_large", Message: "request body too large"}
		}
		return &Error{Status: he.Code, Code: "http_error", Message: http.StatusText(he.Code)}
	}
	return &Error{Status: http.StatusInternalServerError, Code: "internal", Message: "internal error; see pushd's log", Err: err}
}
