// Package uistore backs the web UI's reads of the database and the outbox
// (ui.Events, ui.AuditLog, ui.Sessions, ui.Callbacks) with pkg/store and
// the outbox, handing the UI its own types: pkg/ui imports no store.
package uistore

import (
	"context"
	"errors"
	"time"

	"github.com/vworkspace/pushd/pkg/api"
	"github.com/vworkspace/pushd/pkg/store"
	"github.com/vworkspace/pushd/pkg/ui"
)

var (
	_ ui.Events    = (*Store)(nil)
	_ ui.AuditLog  = (*Store)(nil)
	_ ui.Sessions  = (*Store)(nil)
	_ ui.Callbacks = Callbacks{}
)

// Store is the UI's events, audit log and sessions in pushd's database.
type Store struct{ st *store.Store }

// New reads and writes st.
func New(st *store.Store) *Store { return &Store{st: st} }

func (s *Store) Events(ctx context.Context, cluster string, limit int) ([]ui.Event, error) {
	rows, err := s.st.Events(ctx, cluster, limit)
	if err != nil {
		return nil, err
	}
	out := make([]ui.Event, 0, len(rows))
	for i := range rows {
		out = append(out, event(&rows[i]))
	}
	return out, nil
}

func (s *Store) AuditEntries(ctx context.Context, org string, q ui.AuditQuery) ([]ui.AuditEntry, error) {
	rows, err := s.st.AuditEntries(ctx, org, store.AuditFilter{Since: q.Since, Until: q.Until, Cluster: q.Cluster, Action: q.Action, After: q.After, Limit: q.Limit})
	if err != nil {
		return nil, err
	}
	out := make([]ui.AuditEntry, 0, len(rows))
	for _, e := range rows {
		out = append(out, ui.AuditEntry{Seq: e.Seq, At: e.At, Organization: e.Organization, ActorKind: string(e.ActorKind), ActorID: e.ActorID,
			Action: e.Action, Cluster: e.Cluster, ClusterUID: e.ClusterUID, Subject: e.Subject, Outcome: e.Outcome, Status: e.Status})
	}
	return out, nil
}

func (s *Store) SaveUISession(ctx context.Context, sess ui.StoredSession, audit *ui.AuditEntry) error {
	return s.st.SaveUISession(ctx, &store.UISession{IDHash: sess.IDHash, Organization: sess.Organization, CSRF: sess.CSRF, ExpiresAt: sess.ExpiresAt}, entry(audit))
}

func (s *Store) UISessionByHash(ctx context.Context, idHash string, now time.Time) (*ui.StoredSession, error) {
	row, err := s.st.UISessionByHash(ctx, idHash, now)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &ui.StoredSession{IDHash: row.IDHash, Organization: row.Organization, CSRF: row.CSRF, ExpiresAt: row.ExpiresAt}, nil
}

func (s *Store) DeleteUISession(ctx context.Context, idHash string, audit *ui.AuditEntry) error {
	return s.st.DeleteUISession(ctx, idHash, entry(audit))
}

// entry is the store's row of a UI audit entry; nil for nil.
func entry(e *ui.AuditEntry) *store.AuditEntry {
	if e == nil {
		return nil
	}
	return &store.AuditEntry{Seq: e.Seq, At: e.At, Organization: e.Organization, ActorKind: store.AuditActorKind(e.ActorKind), ActorID: e.ActorID,
		Action: e.Action, Cluster: e.Cluster, ClusterUID: e.ClusterUID, Subject: e.Subject, Outcome: e.Outcome, Status: e.Status}
}

// Callbacks are the parked callbacks of the outbox the API reads too.
type Callbacks struct{ Outbox api.Callbacks }

func (c Callbacks) Parked(ctx context.Context, org string, after int64, limit int) ([]ui.ParkedEvent, error) {
	rows, err := c.Outbox.Parked(ctx, org, after, limit)
	if err != nil {
		return nil, err
	}
	out := make([]ui.ParkedEvent, 0, len(rows))
	for i := range rows {
		e := &rows[i]
		out = append(out, ui.ParkedEvent{Event: event(&e.Event), Seq: e.Seq, Attempts: e.Attempts, LastError: e.LastError, ParkedAt: e.ParkedAt})
	}
	return out, nil
}

func (c Callbacks) Resend(ctx context.Context, org, id string) (*ui.Event, error) {
	row, err := c.Outbox.Resend(ctx, org, id)
	if errors.Is(err, store.ErrEventNotParked) {
		return nil, ui.ErrNotParked
	}
	if err != nil {
		return nil, err
	}
	e := event(row)
	return &e, nil
}

func event(e *store.Event) ui.Event {
	return ui.Event{ID: e.ID, Type: e.Type, Organization: e.Organization, Cluster: e.Cluster, Data: e.Data, CreatedAt: e.CreatedAt}
}
