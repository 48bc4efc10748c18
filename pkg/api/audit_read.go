package api

import (
	"encoding/json"
	"net/http"
	"slices"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/vworkspace/pushd/pkg/store"
)

// Reading the audit log: GET /api/v1/audit, a page at a time, and
// GET /api/v1/audit/export, every matching entry as JSON lines. Both read
// the caller's organization's entries only, oldest first.

// auditView is an audit entry as the API and the export show it.
type auditView struct {
	Seq          int64                `json:"seq"`
	At           time.Time            `json:"at"`
	Organization string               `json:"organization"`
	ActorKind    store.AuditActorKind `json:"actor_kind"`
	Actor        string               `json:"actor"`
	Action       store.AuditAction    `json:"action"`
	Cluster      string               `json:"cluster"`
	ClusterUID   string               `json:"cluster_uid"`
	Subject      string               `json:"subject"`
	Outcome      string               `json:"outcome"`
	Status       int                  `json:"status"`
}

func newAuditView(e *store.AuditEntry) auditView {
	return auditView{Seq: e.Seq, At: e.At.UTC(), Organization: e.Organization, ActorKind: e.ActorKind, Actor: e.ActorID,
		Action: e.Action, Cluster: e.Cluster, ClusterUID: e.ClusterUID, Subject: e.Subject, Outcome: e.Outcome, Status: e.Status}
}

// ParseAuditFilter reads the filters of the query string: since and until
// (RFC 3339), cluster, action.
func ParseAuditFilter(c echo.Context) (store.AuditFilter, error) {
	var f store.AuditFilter
	for name, into := range map[string]*time.Time{"since": &f.Since, "until": &f.Until} {
		if v := c.QueryParam(name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return f, invalidField(name, "must be an RFC 3339 time, like 2026-05-01T10:00:00Z")
			}
			*into = t
		}
	}
	f.Cluster = c.QueryParam("cluster")
	if a := store.AuditAction(c.QueryParam("action")); a != "" {
		if !slices.Contains(store.AuditActions, a) {
			return f, invalidField("action", "not an action of the audit log")
		}
		f.Action = a
	}
	return f, nil
}

func (s *Server) listAudit(c echo.Context) error {
	f, err := ParseAuditFilter(c)
	if err != nil {
		return err
	}
	if f.After, f.Limit, err = seqPage(c); err != nil {
		return err
	}
	limit := f.Limit
	f.Limit++ // one more tells whether there is a next page
	entries, err := s.Store.AuditEntries(c.Request().Context(), organization(c), f)
	if err != nil {
		return err
	}
	entries, next := seqCut(entries, limit, func(e store.AuditEntry) int64 { return e.Seq })
	items := make([]auditView, 0, len(entries))
	for i := range entries {
		items = append(items, newAuditView(&entries[i]))
	}
	return c.JSON(http.StatusOK, map[string]any{"items": items, "next_cursor": next})
}

// exportPage is how many entries the export reads per query: the answer
// streams, so the export of a long log holds one page in memory and keeps
// no database connection (SQLite has one) while the client reads.
const exportPage = 500

// exportAudit streams every matching entry, one JSON object a line. A
// failure after the first line aborts the connection, so the client sees
// an error, never a clean but shortened log.
func (s *Server) exportAudit(c echo.Context) error {
	f, err := ParseAuditFilter(c)
	if err != nil {
		return err
	}
	ctx, org := c.Request().Context(), organization(c)
	f.Limit = exportPage
	entries, err := s.Store.AuditEntries(ctx, org, f)
	if err != nil {
		return err
	}
	w := c.Response()
	w.Header().Set(echo.HeaderContentType, "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	for len(entries) > 0 {
		for i := range entries {
			if err := enc.Encode(newAuditView(&entries[i])); err != nil {
				return nil // the client went away
			}
		}
		w.Flush()
		if len(entries) < exportPage {
			return nil
		}
		f.After = entries[len(entries)-1].Seq
		if entries, err = s.Store.AuditEntries(ctx, org, f); err != nil {
			s.log.Error("audit export failed; connection aborted", "organization", org, "err", err)
			panic(http.ErrAbortHandler)
		}
	}
	return nil
}
