package api

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"sync"
	"time"
)

// uiSessionTTL is how long a UI login lasts. It is absolute, not sliding: a
// stolen session id is worth at most this long, and a token removed from
// --api-tokens stops working in the UI at the latest this long after (and
// at the next restart, since sessions are kept in memory only).
const uiSessionTTL = 12 * time.Hour

// uiSessions maps UI session ids to organizations, in memory.
//
// The cookie holds a random id, never the API token: the token stays in the
// login form's POST only, and the id is useless once it expires, the user
// logs out, or pushd restarts. The map is keyed by the id's SHA-256, so
// neither the map nor a lookup's timing depends on the secret id itself.
type uiSessions struct {
	ttl time.Duration
	now func() time.Time

	mu   sync.Mutex
	byID map[[sha256.Size]byte]uiSession
}

type uiSession struct {
	org string
	// csrf is the session's anti-forgery token: every form of the UI
	// carries it, and every action checks it (ui_csrf.go).
	csrf    string
	expires time.Time
}

func newUISessions(ttl time.Duration, now func() time.Time) *uiSessions {
	if now == nil {
		now = time.Now
	}
	return &uiSessions{ttl: ttl, now: now, byID: map[[sha256.Size]byte]uiSession{}}
}

// create starts a session of org and returns its id and expiry.
func (s *uiSessions) create(org string) (string, time.Time) {
	id, csrf := randomToken(), randomToken()
	now := s.now()
	expires := now.Add(s.ttl)
	s.mu.Lock()
	defer s.mu.Unlock()
	// Only holders of a valid token create sessions, so sweeping on creation
	// keeps the map bounded by the logins of one TTL.
	for k, v := range s.byID {
		if !now.Before(v.expires) {
			delete(s.byID, k)
		}
	}
	s.byID[sha256.Sum256([]byte(id))] = uiSession{org: org, csrf: csrf, expires: expires}
	return id, expires
}

// randomToken is 256 random bits, URL-safe.
func randomToken() string {
	var raw [32]byte
	rand.Read(raw[:]) // never fails (crypto/rand documents it panics instead)
	return base64.RawURLEncoding.EncodeToString(raw[:])
}

// lookup returns a live session.
func (s *uiSessions) lookup(id string) (uiSession, bool) {
	if id == "" {
		return uiSession{}, false
	}
	key := sha256.Sum256([]byte(id))
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.byID[key]
	if !ok {
		return uiSession{}, false
	}
	if !s.now().Before(sess.expires) {
		delete(s.byID, key)
		return uiSession{}, false
	}
	return sess, true
}

// end forgets a session; unknown ids are ignored.
func (s *uiSessions) end(id string) {
	key := sha256.Sum256([]byte(id))
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byID, key)
}
