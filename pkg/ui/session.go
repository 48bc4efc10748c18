package ui

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"log/slog"
	"sync"
	"time"

	"github.com/vworkspace/pushd/pkg/api"
)

// sessionTTL is how long a UI login lasts. It is absolute, not sliding: a
// stolen session id is worth at most this long, and a token removed from
// --api-tokens stops working in the UI at the latest this long after.
const sessionTTL = 12 * time.Hour

// sessions maps UI session ids to organizations: in memory, and in the
// database when there is one, so a restart of pushd keeps people logged in.
//
// The cookie holds a random id, never the API token: the token stays in the
// login form's POST only, and the id is useless once it expires or the user
// logs out. The map and the table are keyed by the id's SHA-256, so neither
// they nor a lookup's timing depend on the secret id itself.
type sessions struct {
	ttl time.Duration
	now func() time.Time
	// db keeps sessions across restarts; nil keeps them in memory only.
	db  Sessions
	log *slog.Logger

	mu   sync.Mutex
	byID map[[sha256.Size]byte]session
}

type session struct {
	org string
	// fingerprint names the session in the audit log (fingerprint of its id).
	fingerprint string
	// csrf is the session's anti-forgery token: every form of the UI
	// carries it, and every action checks it (csrf.go).
	csrf    string
	expires time.Time
}

// caller is who the session's requests come from.
func (s session) caller() api.Caller {
	return api.Caller{Org: s.org, Kind: api.ActorUI, ID: s.fingerprint}
}

func newSessions(ttl time.Duration, now func() time.Time, db Sessions, log *slog.Logger) *sessions {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &sessions{ttl: ttl, now: now, db: db, log: log, byID: map[[sha256.Size]byte]session{}}
}

// create starts a session of org and returns its id and expiry; audit, when
// not nil, is completed with the session's fingerprint and written with the
// session in one transaction. A session the database could not keep still
// works until pushd restarts.
func (s *sessions) create(ctx context.Context, org string, audit *AuditEntry) (string, time.Time) {
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
	key := sha256.Sum256([]byte(id))
	fp := api.FingerprintOf(key)
	s.byID[key] = session{org: org, fingerprint: fp, csrf: csrf, expires: expires}
	if audit != nil {
		audit.ActorID = fp
	}
	if s.db != nil {
		row := StoredSession{IDHash: hex.EncodeToString(key[:]), Organization: org, CSRF: csrf, ExpiresAt: expires.UTC()}
		if err := s.db.SaveUISession(ctx, row, audit); err != nil {
			s.log.Warn("ui session not saved: it ends when pushd restarts", "organization", org, "err", err)
		}
	}
	return id, expires
}

// randomToken is 256 random bits, URL-safe.
func randomToken() string {
	var raw [32]byte
	rand.Read(raw[:]) // never fails (crypto/rand documents it panics instead)
	return base64.RawURLEncoding.EncodeToString(raw[:])
}

// lookup returns a live session: from memory, or from the database for a
// session started before pushd (re)started.
func (s *sessions) lookup(ctx context.Context, id string) (session, bool) {
	if id == "" {
		return session{}, false
	}
	key := sha256.Sum256([]byte(id))
	now := s.now()
	s.mu.Lock()
	sess, ok := s.byID[key]
	if ok && !now.Before(sess.expires) {
		delete(s.byID, key)
		s.mu.Unlock()
		return session{}, false
	}
	s.mu.Unlock()
	if ok || s.db == nil {
		return sess, ok
	}
	row, err := s.db.UISessionByHash(ctx, hex.EncodeToString(key[:]), now)
	if err != nil {
		s.log.Warn("ui session lookup failed", "err", err)
		return session{}, false
	}
	if row == nil {
		return session{}, false
	}
	sess = session{org: row.Organization, fingerprint: api.FingerprintOf(key), csrf: row.CSRF, expires: row.ExpiresAt}
	s.mu.Lock()
	s.byID[key] = sess
	s.mu.Unlock()
	return sess, true
}

// end forgets a session, and writes audit (when not nil) with the deletion
// in one transaction; unknown ids are ignored.
func (s *sessions) end(ctx context.Context, id string, audit *AuditEntry) {
	key := sha256.Sum256([]byte(id))
	s.mu.Lock()
	delete(s.byID, key)
	s.mu.Unlock()
	if s.db != nil {
		if err := s.db.DeleteUISession(ctx, hex.EncodeToString(key[:]), audit); err != nil {
			s.log.Warn("ui session not deleted", "err", err)
		}
	}
}
