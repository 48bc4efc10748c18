package ui

import (
	"context"
	"errors"
	"testing"
	"time"
)

// mustCreate starts a session of org on s.
func mustCreate(t *testing.T, s *sessions, org string) (string, time.Time) {
	t.Helper()
	id, expires, err := s.create(context.Background(), org, nil)
	if err != nil {
		t.Fatal(err)
	}
	return id, expires
}

func TestSessionsExpireAndEnd(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := newSessions(12*time.Hour, func() time.Time { return now }, nil, nil)
	ctx := t.Context()
	id, expires := mustCreate(t, s, "acme")
	if want := now.Add(12 * time.Hour); !expires.Equal(want) {
		t.Fatalf("expires %v, want %v", expires, want)
	}
	other, _ := mustCreate(t, s, "acme")
	if id == other || len(id) < 40 {
		t.Fatalf("session ids must be long and unique: %q %q", id, other)
	}
	if sess, ok := s.lookup(ctx, id, false); !ok || sess.org != "acme" || len(sess.csrf) < 40 {
		t.Fatalf("lookup: %+v %v", sess, ok)
	}
	for _, bad := range []string{"", "guess", id + "x"} {
		if _, ok := s.lookup(ctx, bad, false); ok {
			t.Fatalf("id %q must not be a session", bad)
		}
	}
	now = now.Add(12*time.Hour - time.Second)
	if _, ok := s.lookup(ctx, id, false); !ok {
		t.Fatal("a session must live its whole TTL")
	}
	now = now.Add(time.Second)
	if _, ok := s.lookup(ctx, id, false); ok {
		t.Fatal("a session must end after its TTL")
	}
	mustCreate(t, s, "globex") // sweeps the expired one
	if len(s.byID) != 1 {
		t.Fatalf("expired sessions are kept: %d", len(s.byID))
	}
	id, _ = mustCreate(t, s, "globex")
	if err := s.end(ctx, id, nil); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.lookup(ctx, id, false); ok {
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
	id, _ := mustCreate(t, before, "acme")
	want, _ := before.lookup(ctx, id, false)

	after := newSessions(time.Hour, clock, db, nil) // pushd restarted
	got, ok := after.lookup(ctx, id, false)
	if !ok || got.org != "acme" || got.csrf != want.csrf {
		t.Fatalf("after a restart: %+v %v, want %+v", got, ok, want)
	}
	if _, stored := db.Rows[id]; stored {
		t.Fatal("the database is keyed by the session id itself")
	}
	if err := after.end(ctx, id, nil); err != nil {
		t.Fatal(err)
	}
	if _, ok := newSessions(time.Hour, clock, db, nil).lookup(ctx, id, false); ok {
		t.Fatal("a logged-out session survives a restart")
	}
	old, _ := mustCreate(t, after, "acme")
	now = now.Add(time.Hour)
	if _, ok := newSessions(time.Hour, clock, db, nil).lookup(ctx, old, false); ok {
		t.Fatal("an expired session survives a restart")
	}
}

// Two replicas on one database: a logout on A ends the session on B at
// once for a fresh lookup (a request that changes state), and for a read
// once B's memory of it is recheck old, not before: reads between are
// answered from memory. A database that cannot answer is no session, a
// session it cannot keep is not started, and one it cannot delete lives on.
func TestSessionsEndOnEveryReplica(t *testing.T) {
	ctx := t.Context()
	db := &FakeSessions{}
	now := time.Now()
	clock := func() time.Time { return now }
	a, b := newSessions(time.Hour, clock, db, nil), newSessions(time.Hour, clock, db, nil)
	id, _ := mustCreate(t, a, "acme")
	if _, ok := b.lookup(ctx, id, false); !ok {
		t.Fatal("B does not know A's session")
	}
	if err := a.end(ctx, id, nil); err != nil {
		t.Fatal(err)
	}
	now = now.Add(b.recheck - time.Millisecond)
	if _, ok := b.lookup(ctx, id, false); !ok {
		t.Fatal("a read within recheck is not answered from memory")
	}
	if _, ok := b.lookup(ctx, id, true); ok {
		t.Fatal("a fresh lookup on B accepts a session logged out on A")
	}
	if _, ok := b.lookup(ctx, id, false); ok {
		t.Fatal("B keeps answering from memory a session the database refused")
	}

	id, _ = mustCreate(t, a, "acme")
	b.lookup(ctx, id, false)
	if err := a.end(ctx, id, nil); err != nil {
		t.Fatal(err)
	}
	now = now.Add(b.recheck)
	if _, ok := b.lookup(ctx, id, false); ok {
		t.Fatalf("B still serves pages of a session logged out on A %v ago", b.recheck)
	}

	id, _ = mustCreate(t, a, "acme")
	db.Err = errors.New("database down")
	now = now.Add(b.recheck)
	if _, ok := a.lookup(ctx, id, false); ok {
		t.Fatal("a session the database could not confirm is accepted")
	}
	if _, _, err := a.create(ctx, "acme", nil); err == nil {
		t.Fatal("a session the database could not keep is started")
	}
	if err := a.end(ctx, id, nil); err == nil {
		t.Fatal("a logout the database did not record says it succeeded")
	}
	db.Err = nil
	if _, ok := b.lookup(ctx, id, false); !ok {
		t.Fatal("a session whose logout failed must live on, to be logged out again")
	}
}
