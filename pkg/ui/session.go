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

// sessionRecheck bounds how long a session is answered from memory. With a
// database, the database is the record: a logout on another replica
// deletes the session there, and a replica that knew it refuses it this
// long after at the latest for pages, and at once for anything that
// changes state (fresh lookups, login.go). A page refreshes every few
// seconds (refreshSeconds): re-checking on each would be a query per open
// tab per refresh for nothing.
const sessionRecheck = 5 * time.Second

// sessions maps UI session ids to organizations: in the database when
// there is one, so a restart of pushd keeps people logged in and a logout
// on one replica ends the session on all (memory is then a cache, at most
// recheck old); in memory only otherwise.
//
// The cookie holds a random id, never the API token: the token stays in the
// login form's POST only, and the id is useless once it expires or the user
// logs out. The map and the table are keyed by the id's SHA-256, so neither
// they nor a lookup's timing depend on the secret id itself.
type sessions struct {
	ttl, recheck time.Duration
	now          func() time.Time
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
	// checked is when the database last confirmed the session.
	checked time.Time
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
	return &sessions{ttl: ttl, recheck: sessionRecheck, now: now, db: db, log: log, byID: map[[sha256.Size]byte]session{}}
}

// create starts a session of org and returns its id and expiry; audit, when
// not nil, is completed with the session's fingerprint and written with the
// session in one transaction. A session the database could not keep is no
// session (an error): no other replica could know it, nor end it.
func (s *sessions) create(ctx context.Context, org string, audit *AuditEntry) (string, time.Time, error) {
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
	if audit != nil {
		audit.ActorID = fp
	}
	if s.db != nil {
		row := StoredSession{IDHash: hex.EncodeToString(key[:]), Organization: org, CSRF: csrf, ExpiresAt: expires.UTC()}
		if err := s.db.SaveUISession(ctx, row, audit); err != nil {
			return "", time.Time{}, err
		}
	}
	s.byID[key] = session{org: org, fingerprint: fp, csrf: csrf, expires: expires, checked: now}
	return id, expires, nil
}

// randomToken is 256 random bits, URL-safe.
func randomToken() string {
	var raw [32]byte
	rand.Read(raw[:]) // never fails (crypto/rand documents it panics instead)
	return base64.RawURLEncoding.EncodeToString(raw[:])
}

// lookup returns a live session. With a database, it asks the database
// when fresh (a request that changes state) or when memory's answer is
// older than recheck, so a session ended or started on another replica,
// or before pushd (re)started, is known here; a database that cannot
// answer is no session (fail closed). Without one, memory is the record.
func (s *sessions) lookup(ctx context.Context, id string, fresh bool) (session, bool) {
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
	if s.db == nil || (ok && !fresh && now.Sub(sess.checked) < s.recheck) {
		return sess, ok
	}
	row, err := s.db.UISessionByHash(ctx, hex.EncodeToString(key[:]), now)
	if err != nil {
		s.log.Warn("ui session lookup failed", "err", err)
		return session{}, false
	}
	if row == nil {
		s.mu.Lock()
		delete(s.byID, key)
		s.mu.Unlock()
		return session{}, false
	}
	sess = session{org: row.Organization, fingerprint: api.FingerprintOf(key), csrf: row.CSRF, expires: row.ExpiresAt, checked: now}
	s.mu.Lock()
	s.byID[key] = sess
	s.mu.Unlock()
	return sess, true
}

// end forgets a session, and writes audit (when not nil) with the deletion
// in one transaction; unknown ids are ignored. When the database could not
// delete it, the session lives on (this replica asks the database again
// on its next request) and the error says so.
func (s *sessions) end(ctx context.Context, id string, audit *AuditEntry) error {
	key := sha256.Sum256([]byte(id))
	s.mu.Lock()
	delete(s.byID, key)
	s.mu.Unlock()
	if s.db == nil {
		return nil
	}
	if err := s.db.DeleteUISession(ctx, hex.EncodeToString(key[:]), audit); err != nil {
		s.log.Warn("ui session not deleted", "err", err)
		return err
	}
	return nil
}
