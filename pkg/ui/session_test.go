package ui

import (
	"testing"
	"time"
)

func TestSessionsExpireAndEnd(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := newSessions(12*time.Hour, func() time.Time { return now }, nil, nil)
	ctx := t.Context()
	id, expires := s.create(ctx, "acme", nil)
	if want := now.Add(12 * time.Hour); !expires.Equal(want) {
		t.Fatalf("expires %v, want %v", expires, want)
	}
	other, _ := s.create(ctx, "acme", nil)
	if id == other || len(id) < 40 {
		t.Fatalf("session ids must be long and unique: %q %q", id, other)
	}
	if sess, ok := s.lookup(ctx, id); !ok || sess.org != "acme" || len(sess.csrf) < 40 {
		t.Fatalf("lookup: %+v %v", sess, ok)
	}
	for _, bad := range []string{"", "guess", id + "x"} {
		if _, ok := s.lookup(ctx, bad); ok {
			t.Fatalf("id %q must not be a session", bad)
		}
	}
	now = now.Add(12*time.Hour - time.Second)
	if _, ok := s.lookup(ctx, id); !ok {
		t.Fatal("a session must live its whole TTL")
	}
	now = now.Add(time.Second)
	if _, ok := s.lookup(ctx, id); ok {
		t.Fatal("a session must end after its TTL")
	}
	s.create(ctx, "globex", nil) // sweeps the expired one
	if len(s.byID) != 1 {
		t.Fatalf("expired sessions are kept: %d", len(s.byID))
	}
	id, _ = s.create(ctx, "globex", nil)
	s.end(ctx, id, nil)
	if _, ok := s.lookup(ctx, id); ok {
		t.Fatal("an ended session must be gone")
	}
}

// A restart of pushd keeps UI sessions (a new sessions value on the same
// database knows them, anti-forgery token included); expiry and logout
// hold there too, and the database never holds the session id.
func TestSessionsSurviveARestart(t *testing.T) {
	ctx := t.Context()
	db := &FakeSessions{}
	now := time.Now()
	clock := func() time.Time { return now }
	before := newSessions(time.Hour, clock, db, nil)
	id, _ := before.create(ctx, "acme", nil)
	want, _ := before.lookup(ctx, id)

	after := newSessions(time.Hour, clock, db, nil) // pushd restarted
	got, ok := after.lookup(ctx, id)
	if !ok || got.org != "acme" || got.csrf != want.csrf {
		t.Fatalf("after a restart: %+v %v, want %+v", got, ok, want)
	}
	if _, stored := db.Rows[id]; stored {
		t.Fatal("the database is keyed by the session id itself")
	}
	after.end(ctx, id, nil)
	if _, ok := newSessions(time.Hour, clock, db, nil).lookup(ctx, id); ok {
		t.Fatal("a logged-out session survives a restart")
	}
	old, _ := after.create(ctx, "acme", nil)
	now = now.Add(time.Hour)
	if _, ok := newSessions(time.Hour, clock, db, nil).lookup(ctx, old); ok {
		t.Fatal("an expired session survives a restart")
	}
}
