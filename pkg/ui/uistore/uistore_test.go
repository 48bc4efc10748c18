package uistore_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/vworkspace/pushd/pkg/api"
	"github.com/vworkspace/pushd/pkg/store"
	"github.com/vworkspace/pushd/pkg/ui"
	"github.com/vworkspace/pushd/pkg/ui/uistore"
)

func open(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(t.Context(), "sqlite", filepath.Join(t.TempDir(), "pushd.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// A session is kept with its login's audit entry, found by its hash until
// it expires, and deleted with its logout's; the audit log reads both back.
func TestSessionsAndTheirAuditEntries(t *testing.T) {
	ctx := t.Context()
	s := uistore.New(open(t))
	now := time.Now().UTC().Truncate(time.Second)
	sess := ui.StoredSession{IDHash: "ab12", Organization: "acme", CSRF: "csrf-token", ExpiresAt: now.Add(time.Hour)}
	login := &ui.AuditEntry{Organization: "acme", ActorKind: string(api.ActorUI), ActorID: "fp-1", Action: api.AuditUILogin, Subject: "token:t-1", Outcome: api.AuditOK, Status: 303}
	if err := s.SaveUISession(ctx, sess, login); err != nil {
		t.Fatal(err)
	}
	got, err := s.UISessionByHash(ctx, "ab12", now)
	if err != nil || got == nil || got.Organization != "acme" || got.CSRF != "csrf-token" || !got.ExpiresAt.Equal(sess.ExpiresAt) {
		t.Fatalf("UISessionByHash: %+v %v, want %+v", got, err, sess)
	}
	for _, tt := range []struct {
		hash string
		at   time.Time
	}{{"ab12", now.Add(time.Hour)}, {"nope", now}} {
		if got, err := s.UISessionByHash(ctx, tt.hash, tt.at); got != nil || err != nil {
			t.Errorf("session %s at %s: %+v %v, want none", tt.hash, tt.at, got, err)
		}
	}
	logout := &ui.AuditEntry{Organization: "acme", ActorKind: string(api.ActorUI), ActorID: "fp-1", Action: api.AuditUILogout, Outcome: api.AuditOK, Status: 303}
	if err := s.DeleteUISession(ctx, "ab12", logout); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.UISessionByHash(ctx, "ab12", now); got != nil {
		t.Fatal("a deleted session is found")
	}
	entries, err := s.AuditEntries(ctx, "acme", ui.AuditQuery{})
	if err != nil || len(entries) != 2 {
		t.Fatalf("audit entries: %+v %v, want the login and the logout", entries, err)
	}
	if e := entries[0]; e.Seq == 0 || e.At.IsZero() || e.ActorKind != "ui" || e.ActorID != "fp-1" || e.Action != api.AuditUILogin || e.Subject != "token:t-1" || e.Outcome != "ok" || e.Status != 303 {
		t.Errorf("login entry: %+v", e)
	}
	if only, _ := s.AuditEntries(ctx, "acme", ui.AuditQuery{Action: api.AuditUILogout}); len(only) != 1 || only[0].Action != api.AuditUILogout {
		t.Errorf("the query's action is not passed on: %+v", only)
	}
	if after, _ := s.AuditEntries(ctx, "acme", ui.AuditQuery{After: entries[0].Seq}); len(after) != 1 || after[0].Seq != entries[1].Seq {
		t.Errorf("the query's cursor is not passed on: %+v", after)
	}
}

func TestEvents(t *testing.T) {
	ctx := t.Context()
	st := open(t)
	created := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	if err := st.AddEvent(ctx, &store.Event{ID: "evt-1", Type: "x.custom", Organization: "acme", Cluster: "c-1", Data: `{"k":"v"}`, CreatedAt: created}); err != nil {
		t.Fatal(err)
	}
	got, err := uistore.New(st).Events(ctx, "c-1", 10)
	want := ui.Event{ID: "evt-1", Type: "x.custom", Organization: "acme", Cluster: "c-1", Data: `{"k":"v"}`, CreatedAt: created}
	if err != nil || len(got) != 1 || got[0].ID != want.ID || got[0].Type != want.Type || got[0].Organization != want.Organization ||
		got[0].Cluster != want.Cluster || got[0].Data != want.Data || !got[0].CreatedAt.Equal(created) {
		t.Fatalf("events: %+v %v, want [%+v]", got, err, want)
	}
}

// outbox holds one parked event of acme.
type outbox struct{ parked store.ParkedEvent }

func (o outbox) Parked(_ context.Context, org string, after int64, limit int) ([]store.ParkedEvent, error) {
	if org != o.parked.Organization || after >= o.parked.Seq || limit < 1 {
		return nil, nil
	}
	return []store.ParkedEvent{o.parked}, nil
}

func (o outbox) Resend(_ context.Context, org, id string) (*store.Event, error) {
	if org != o.parked.Organization || id != o.parked.ID {
		return nil, store.ErrEventNotParked
	}
	return &o.parked.Event, nil
}

func TestCallbacks(t *testing.T) {
	ctx := t.Context()
	at := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	cb := uistore.Callbacks{Outbox: outbox{store.ParkedEvent{Event: store.Event{Seq: 7, ID: "evt-7", Type: "job.status_changed", Organization: "acme",
		Cluster: "c-1", CreatedAt: at, Attempts: 12, LastError: "400 Bad Request"}, ParkedAt: at.Add(time.Hour)}}}
	got, err := cb.Parked(ctx, "acme", 0, 10)
	if err != nil || len(got) != 1 {
		t.Fatalf("parked: %+v %v", got, err)
	}
	if p := got[0]; p.Seq != 7 || p.ID != "evt-7" || p.Type != "job.status_changed" || p.Cluster != "c-1" || !p.CreatedAt.Equal(at) ||
		p.Attempts != 12 || p.LastError != "400 Bad Request" || !p.ParkedAt.Equal(at.Add(time.Hour)) {
		t.Errorf("parked event: %+v", p)
	}
	if e, err := cb.Resend(ctx, "acme", "evt-7"); err != nil || e.ID != "evt-7" || e.Cluster != "c-1" {
		t.Errorf("resend: %+v %v", e, err)
	}
	if _, err := cb.Resend(ctx, "globex", "evt-7"); !errors.Is(err, ui.ErrNotParked) {
		t.Errorf("resend of another organization's event: %v, want ui.ErrNotParked", err)
	}
}
