package api

import (
	"testing"
	"time"
)

func TestUISessionsExpireAndEnd(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := newUISessions(12*time.Hour, func() time.Time { return now })
	id, expires := s.create("acme")
	if want := now.Add(12 * time.Hour); !expires.Equal(want) {
		t.Fatalf("expires %v, want %v", expires, want)
	}
	other, _ := s.create("acme")
	if id == other || len(id) < 40 {
		t.Fatalf("session ids must be long and unique: %q %q", id, other)
	}
	if sess, ok := s.lookup(id); !ok || sess.org != "acme" || len(sess.csrf) < 40 {
		t.Fatalf("lookup: %+v %v", sess, ok)
	}
	for _, bad := range []string{"", "guess", id + "x"} {
		if _, ok := s.lookup(bad); ok {
			t.Fatalf("id %q must not be a session", bad)
		}
	}
	now = now.Add(12*time.Hour - time.Second)
	if _, ok := s.lookup(id); !ok {
		t.Fatal("a session must live its whole TTL")
	}
	now = now.Add(time.Second)
	if _, ok := s.lookup(id); ok {
		t.Fatal("a session must end after its TTL")
	}
	s.create("globex") // sweeps the expired one
	if len(s.byID) != 1 {
		t.Fatalf("expired sessions are kept: %d", len(s.byID))
	}
	id, _ = s.create("globex")
	s.end(id)
	if _, ok := s.lookup(id); ok {
		t.Fatal("an ended session must be gone")
	}
}
