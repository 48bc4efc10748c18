package api

import (
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
)

// failureLimiter slows down guessing: each client (an IPv4 address or an
// IPv6 /64) may fail authentication Burst times at once, then once per
// Every; beyond that its failed attempts are answered 429 with Retry-After
// instead of 401, so a guess costs real time. Only failures count, and only
// failures are refused: the credential is checked first, and a valid one
// passes even from a client over its allowance. Organizations behind one
// egress address (a NAT, an Odoo cluster's proxy) share a client key, and
// one's flood of wrong tokens must not lock the others out. That opens no
// door to a guesser: a valid answer to a guess needs the guess to be right,
// and every token and key is at least 128 random bits (config.Validate
// refuses shorter ones at start), so the limiter only has to keep guesses
// slow, never to hide which one was right. The price is that a client over
// its allowance still has its credential checked (a signed write's body
// read, up to MaxBodyBytes), within the bound on concurrent requests.
//
// It is a generic cell rate algorithm: one "theoretical arrival time" per
// client, pushed forward by Every on each failure.
type failureLimiter struct {
	every time.Duration
	burst int
	now   func() time.Time

	mu  sync.Mutex
	tat map[netip.Prefix]time.Time
}

// maxLimitedClients bounds the limiter's memory; beyond it expired entries
// are swept and, if still full, an arbitrary one is dropped.
const maxLimitedClients = 100_000

func newFailureLimiter(every time.Duration, burst int, now func() time.Time) *failureLimiter {
	if now == nil {
		now = time.Now
	}
	return &failureLimiter{every: every, burst: burst, now: now, tat: map[netip.Prefix]time.Time{}}
}

// clientKey groups addresses that one client is likely to hold.
func clientKey(ip string) netip.Prefix {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return netip.Prefix{}
	}
	addr = addr.Unmap()
	bits := 32
	if addr.Is6() {
		bits = 64
	}
	p, _ := addr.Prefix(bits)
	return p
}

// wait is how long client must wait before its next attempt; 0 lets it try.
func (l *failureLimiter) wait(client netip.Prefix) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	tat, ok := l.tat[client]
	if !ok {
		return 0
	}
	return max(tat.Sub(l.now())-time.Duration(l.burst)*l.every, 0)
}

// fail records a failed attempt of client.
func (l *failureLimiter) fail(client netip.Prefix) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if _, ok := l.tat[client]; !ok && len(l.tat) >= maxLimitedClients {
		for k, t := range l.tat {
			if t.Before(now) {
				delete(l.tat, k)
			}
		}
		for k := range l.tat {
			if len(l.tat) < maxLimitedClients {
				break
			}
			delete(l.tat, k)
		}
	}
	l.tat[client] = later(l.tat[client], now).Add(l.every)
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// TooManyFailures refuses a client over its allowance. A front-end should call it
// once the credential offered has failed (refuse), so a valid one is never
// refused.
func (s *Server) TooManyFailures(c echo.Context) error {
	d := s.limiter.wait(clientKey(s.clientIP(c)))
	if d == 0 {
		return nil
	}
	secs := int(math.Ceil(d.Seconds()))
	c.Response().Header().Set("Retry-After", strconv.Itoa(secs))
	return &Error{Status: http.StatusTooManyRequests, Code: "too_many_failures",
		Message: "too many failed authentication attempts from this client; retry after " + strconv.Itoa(secs) + " s"}
}

// AuthFailed counts a failed authentication of the request's client and
// logs it: it belongs to no organization, so this log line is its only
// audit record. The rate limit bounds how often one client can write it.
func (s *Server) AuthFailed(c echo.Context) {
	ip := s.clientIP(c)
	s.log.Info("authentication failed", "client", ip, "method", c.Request().Method, "path", c.Request().URL.Path)
	s.limiter.fail(clientKey(ip))
}

// refuse answers a request whose credential failed: 429 when its client is
// over its allowance, else unauthenticated, counted.
func (s *Server) refuse(c echo.Context, unauthenticated error) error {
	if err := s.TooManyFailures(c); err != nil {
		return err
	}
	s.AuthFailed(c)
	return unauthenticated
}

// clientIP is the request's client as the server's own IP extractor names
// it (forwarded headers only from TrustedProxies), also for a front-end
// mounted with its own router (the UI), whose echo would trust any header.
func (s *Server) clientIP(c echo.Context) string { return s.e.IPExtractor(c.Request()) }
