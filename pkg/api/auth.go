package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/vworkspace/pushd/pkg/config"
	"github.com/vworkspace/pushd/pkg/store"
	"github.com/vworkspace/pushd/pkg/webhook"
)

// Authenticator knows every organization's webhook secrets and read tokens.
type Authenticator struct {
	verifiers []orgVerifier
	tokens    []config.Credential
	ids       idSpace // which organization may create which cluster id
}

// orgVerifier checks signatures with one webhook secret, so that a match
// names the secret (by its fingerprint) as well as the organization.
type orgVerifier struct {
	org         string
	fingerprint string
	verifier    *webhook.Verifier
}

// Caller is who sent a request, as the audit log names them.
type Caller struct {
	Org  string
	Kind store.AuditActorKind
	// ID is the fingerprint of the credential or UI session, never the
	// credential itself.
	ID string
}

// fingerprint names a credential without revealing it: the first 8 hex
// digits of its SHA-256 (32 bits: enough to tell an organization's few
// credentials apart, far too few to find the credential from).
func fingerprint(credential string) string { return FingerprintOf(sha256.Sum256([]byte(credential))) }

// FingerprintOf is the fingerprint of a credential whose SHA-256 is sum.
func FingerprintOf(sum [sha256.Size]byte) string { return hex.EncodeToString(sum[:4]) }

// NewAuthenticator builds an authenticator; now may be nil for the wall clock.
func NewAuthenticator(secrets, tokens []config.Credential, now func() time.Time) (*Authenticator, error) {
	a := &Authenticator{tokens: tokens}
	var orgs []string
	for _, s := range secrets {
		sec, err := webhook.ParseSecret(s.Value)
		if err != nil {
			return nil, fmt.Errorf("webhook secret of organization %q: %w", s.Organization, err)
		}
		if !slices.Contains(orgs, s.Organization) {
			orgs = append(orgs, s.Organization)
		}
		a.verifiers = append(a.verifiers, orgVerifier{org: s.Organization, fingerprint: fingerprint(s.Value),
			verifier: webhook.NewVerifier([]webhook.Secret{sec}, now)})
	}
	ids, err := newIDSpace(orgs)
	if err != nil {
		return nil, err
	}
	a.ids = ids
	return a, nil
}

// parse checks a write's signature headers before its body is read. The
// checks do not depend on the secret, so the first verifier does them.
func (a *Authenticator) parse(h http.Header) (webhook.Message, error) {
	if len(a.verifiers) == 0 {
		return webhook.Message{}, errors.New("no webhook secrets configured")
	}
	return a.verifiers[0].verifier.Parse(h)
}

// match returns the caller whose secret signed payload.
func (a *Authenticator) match(msg webhook.Message, payload []byte) (Caller, error) {
	for _, v := range a.verifiers {
		if err := v.verifier.Match(msg, payload); err == nil {
			return Caller{Org: v.org, Kind: store.ActorWebhook, ID: v.fingerprint}, nil
		}
	}
	return Caller{}, webhook.ErrNoMatch
}

// Token returns the caller of a bearer token (API reads, UI logins). Tokens are compared by
// their SHA-256, in constant time, against every configured token, so neither
// a token's length nor which one matched shows in the timing.
func (a *Authenticator) Token(h http.Header) (Caller, bool) {
	tok, ok := strings.CutPrefix(h.Get(echo.HeaderAuthorization), "Bearer ")
	if !ok || tok == "" {
		return Caller{}, false
	}
	got := sha256.Sum256([]byte(tok))
	var who Caller
	for _, t := range a.tokens {
		want := sha256.Sum256([]byte(t.Value))
		if subtle.ConstantTimeCompare(got[:], want[:]) == 1 && who.Org == "" {
			who = Caller{Org: t.Organization, Kind: store.ActorToken, ID: FingerprintOf(want)}
		}
	}
	return who, who.Org != ""
}

const callerKey = "pushd.caller"

// replayedHeader marks an answer given from memory for a webhook-id seen before.
const replayedHeader = "Idempotent-Replayed"

// organization is the authenticated caller's organization.
func organization(c echo.Context) string { return CallerOf(c).Org }

// CallerOf is the authenticated caller; the zero Caller when there is none.
func CallerOf(c echo.Context) Caller { who, _ := c.Get(callerKey).(Caller); return who }

// SetCaller names who sent the request being handled: the authentication
// middleware of a front-end (the API's token and signature checks, the
// UI's session) calls it, and the audit log and every handler read it.
func SetCaller(c echo.Context, who Caller) { c.Set(callerKey, who) }

var errUnauthenticated = &Error{Status: http.StatusUnauthorized, Code: "unauthenticated", Message: "missing or invalid bearer token"}

// requireToken authenticates reads. A valid token passes even from a
// client over its failure allowance (see failureLimiter).
func (s *Server) requireToken(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		who, ok := s.Auth.Token(c.Request().Header)
		if !ok {
			return s.refuse(c, errUnauthenticated)
		}
		SetCaller(c, who)
		return next(c)
	}
}

// requireSignature authenticates writes per Standard Webhooks, bound to
// their target (webhook.Bound: method and path are signed with the body), and
// makes them idempotent on webhook-id: a retry with the same body gets the
// original answer, a reuse with another body 409. The headers and the
// timestamp window are checked before the body is read. Nothing is stored for
// a request that fails authentication, and an answer of pushd's own failure
// (5xx) is forgotten so the retry is acted on.
func (s *Server) requireSignature(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		msg, err := s.Auth.parse(req.Header)
		if errors.Is(err, webhook.ErrBadID) {
			return &Error{Status: http.StatusBadRequest, Code: "invalid_webhook_id", Message: err.Error()}
		}
		if err != nil {
			return s.refuse(c, &Error{Status: http.StatusUnauthorized, Code: "bad_signature", Message: "webhook signature rejected: " + err.Error()})
		}
		body, err := io.ReadAll(http.MaxBytesReader(c.Response(), req.Body, s.opts.MaxBodyBytes))
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return &Error{Status: http.StatusRequestEntityTooLarge, Code: "body_too_large", Message: fmt.Sprintf("request body exceeds %d bytes", s.opts.MaxBodyBytes)}
		}
		if err != nil {
			return &Error{Status: http.StatusBadRequest, Code: "bad_body", Message: "could not read the request body", Err: err}
		}
		target := webhook.Bound(req.Method, req.URL.RequestURI(), body)
		who, err := s.Auth.match(msg, target)
		if err != nil {
			why := err.Error()
			if _, e := s.Auth.match(msg, body); e == nil {
				why = "the signature covers the body but not the method and path (sign \"METHOD /path\\n\" + body)"
			}
			return s.refuse(c, &Error{Status: http.StatusUnauthorized, Code: "bad_signature", Message: "webhook signature rejected: " + why})
		}
		SetCaller(c, who)
		org := who.Org
		req.Body = io.NopCloser(bytes.NewReader(body))

		sum := sha256.Sum256(target)
		hash := hex.EncodeToString(sum[:])
		ctx := req.Context()
		prior, err := s.Store.BeginMessage(ctx, &store.Message{Organization: org, ID: msg.ID, BodyHash: hash})
		switch {
		case errors.Is(err, store.ErrMessageExists):
			if prior.BodyHash != hash {
				return &Error{Status: http.StatusConflict, Code: "webhook_id_reused", Message: fmt.Sprintf("webhook-id %q was used before for a different request", msg.ID)}
			}
			if prior.Status == 0 {
				return &Error{Status: http.StatusConflict, Code: "request_in_progress", Message: fmt.Sprintf("webhook-id %q is still being handled; retry later", msg.ID)}
			}
			c.Response().Header().Set(replayedHeader, "true")
			replayLocation(c, prior.Status, prior.Response)
			return c.Blob(prior.Status, prior.ContentType, prior.Response)
		case err != nil:
			return err
		}
		rec := &recorder{ResponseWriter: c.Response().Writer}
		c.Response().Writer = rec
		defer func() {
			if p := recover(); p != nil {
				// Forget the id so the sender's retry is acted on, then let
				// the recover middleware answer 500.
				s.Store.ForgetMessage(context.WithoutCancel(ctx), org, msg.ID)
				panic(p)
			}
		}()
		if err := next(c); err != nil {
			c.Error(err) // render now so the answer can be remembered
		}
		// The request may have been cancelled; the outcome must still be kept.
		ctx = context.WithoutCancel(ctx)
		status := c.Response().Status
		if status >= 500 {
			return s.Store.ForgetMessage(ctx, org, msg.ID)
		}
		return s.Store.FinishMessage(ctx, org, msg.ID, status, c.Response().Header().Get(echo.HeaderContentType), rec.body.Bytes())
	}
}

// recorder keeps a copy of the response body for replays.
type recorder struct {
	http.ResponseWriter
	body bytes.Buffer
}

func (r *recorder) Write(b []byte) (int, error) {
	r.body.Write(b)
	return r.ResponseWriter.Write(b)
}
