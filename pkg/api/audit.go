package api

import (
	"context"

	"github.com/labstack/echo/v4"

	"github.com/vworkspace/pushd/pkg/store"
)

// Recording the audit log. Every route that changes state — the signed
// writes and the UI's actions — runs behind Audited, which writes one entry
// per request of a known caller: the caller (organization, credential or
// session fingerprint), the action, its subject, and how it ended (ok, or
// the error code with its status, so refused attempts are there too).
//
// The entry is written right after the handler, not in the transaction of
// the change: the change is written by pkg/clusters, pkg/jobs, pkg/outbox or
// pkg/observe through store verbs that know nothing of who asked, and only
// the front-end (pkg/api, pkg/ui through Audited) knows the caller and the
// answer; a refusal writes nothing to join. So a crash between a change and
// its entry can lose the entry (never the reverse). The changes a front-end
// writes itself, UI logins and logouts, are written with their entry in one
// transaction (pkg/ui's session.go).
//
// A request that fails authentication has no organization whose log it
// could go to: it is in pushd's log only (AuthFailed).

const (
	auditKey = "pushd.audit"
	// errorCodeKey holds the code of the error an answer was rendered from.
	errorCodeKey = "pushd.error_code"
)

// The audit vocabulary of the front-ends, as the store keeps it: what the
// UI's routes and sessions record, who a UI session is, and the outcome of
// what was done. pkg/ui records through this package, not the store.
type AuditAction = store.AuditAction

const (
	AuditDriftCheckRequested = store.AuditDriftCheckRequested
	AuditJobCancelled        = store.AuditJobCancelled
	AuditRequestCancelled    = store.AuditRequestCancelled
	AuditCallbackResent      = store.AuditCallbackResent
	AuditUILogin             = store.AuditUILogin
	AuditUILogout            = store.AuditUILogout
	ActorUI                  = store.ActorUI
	AuditOK                  = store.AuditOK
)

// AuditActions lists every action, in the order the UI offers them.
var AuditActions = store.AuditActions

// AuditSubject says where a route's path names its subject.
type AuditSubject func(c echo.Context, e *store.AuditEntry)

var (
	// ClusterInPath: the :id of /clusters/:id/….
	ClusterInPath AuditSubject = func(c echo.Context, e *store.AuditEntry) { e.Cluster = c.Param("id") }
	// SubjectInPath: the :id of /jobs/:id/… or /callbacks/:id/….
	SubjectInPath AuditSubject = func(c echo.Context, e *store.AuditEntry) { e.Subject = c.Param("id") }
	// RequestInPath: the :request_id of /requests/:request_id/….
	RequestInPath AuditSubject = func(c echo.Context, e *store.AuditEntry) { e.Subject = c.Param("request_id") }
	// subjectInBody: the handler names it (AuditNote).
	subjectInBody AuditSubject = func(echo.Context, *store.AuditEntry) {}
)

// Audited records action for every request of a known caller that
// reaches it. It runs outside the authentication middleware and reads the
// caller it found once the request is answered, so a refusal there (a
// webhook-id reused with another body) is recorded too; a request that
// failed authentication has no caller and is not. A replay of a remembered
// answer changes nothing and is not recorded again.
func (s *Server) Audited(action store.AuditAction, subject AuditSubject) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			e := &store.AuditEntry{Action: action}
			subject(c, e)
			c.Set(auditKey, e)
			err := next(c)
			who := CallerOf(c)
			if who.Org == "" || c.Response().Header().Get(replayedHeader) != "" {
				return err
			}
			e.Organization, e.ActorKind, e.ActorID = who.Org, who.Kind, who.ID
			e.Outcome, e.Status = store.AuditOK, c.Response().Status
			switch code, _ := c.Get(errorCodeKey).(string); {
			case err != nil:
				apiErr := ErrorOf(err)
				e.Outcome, e.Status = apiErr.Code, apiErr.Status
			case code != "": // answered already (requireSignature renders the handler's error)
				e.Outcome = code
			}
			s.recordAudit(c.Request().Context(), e)
			return err
		}
	}
}

// AuditNote is the entry of the request being handled, for the handler to
// complete with what only it knows (a job's cluster, a record's
// generation); a throw-away entry on routes that are not audited.
func AuditNote(c echo.Context) *store.AuditEntry {
	if e, ok := c.Get(auditKey).(*store.AuditEntry); ok {
		return e
	}
	return &store.AuditEntry{}
}

// recordAudit writes e. It completes the generation of e's cluster when the
// handler did not name it (the record as it is after the change). A failure
// is logged: the change it records is done and its answer decided.
func (s *Server) recordAudit(ctx context.Context, e *store.AuditEntry) {
	if s.Store == nil || e.Organization == "" {
		return
	}
	// The request may have been cancelled; its entry must still be kept.
	ctx = context.WithoutCancel(ctx)
	if e.Cluster != "" && e.ClusterUID == "" && s.Clusters != nil {
		if rec, err := s.Clusters.Get(ctx, e.Organization, e.Cluster); err == nil {
			e.ClusterUID = rec.UID
		}
	}
	if err := s.Store.AppendAudit(ctx, e); err != nil {
		s.log.Error("audit entry not written", "organization", e.Organization, "action", e.Action, "cluster", e.Cluster, "subject", e.Subject, "outcome", e.Outcome, "err", err)
	}
}
