package health

import (
	"sync"
	"time"
)

// BreakerOptions tune a circuit breaker.
type BreakerOptions struct {
	// Threshold is how many consecutive failures open the breaker. Default 3.
	Threshold int
	// BaseBackoff is the first open period; each failed half-open probe
	// doubles it up to MaxBackoff. Defaults 5s and 5m.
	BaseBackoff, MaxBackoff time.Duration
}

func (o *BreakerOptions) defaults() {
	if o.Threshold == 0 {
		o.Threshold = 3
	}
	if o.BaseBackoff == 0 {
		o.BaseBackoff = 5 * time.Second
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = 5 * time.Minute
	}
}

// Breaker states.
const (
	BreakerClosed   = "closed"
	BreakerOpen     = "open"
	BreakerHalfOpen = "half-open"
)

// Breaker is one cluster's circuit breaker: consecutive failures open it, so
// a dead cluster stops costing probes and jobs their timeouts; after a
// backoff one half-open call is let through, and its success closes it.
type Breaker struct {
	opts BreakerOptions
	now  func() time.Time

	mu        sync.Mutex
	failures  int
	backoff   time.Duration
	openUntil time.Time
	state     string
}

// NewBreaker returns a closed breaker; now may be nil for the wall clock.
func NewBreaker(opts BreakerOptions, now func() time.Time) *Breaker {
	opts.defaults()
	if now == nil {
		now = time.Now
	}
	return &Breaker{opts: opts, now: now, state: BreakerClosed}
}

// Admit takes the right to call the cluster now, if there is one. In the
// open state it lets exactly one call through once the backoff has passed,
// and the breaker turns half-open: unlike Monitor.Allow, which only asks,
// Admit changes the breaker, so only the prober that reports the call's
// outcome (Success or Failure) calls it.
func (b *Breaker) Admit() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case BreakerClosed:
		return true
	case BreakerOpen:
		if b.now().Before(b.openUntil) {
			return false
		}
		b.state = BreakerHalfOpen
		return true
	default: // half-open: one call is already on its way
		return false
	}
}

// Success closes the breaker.
func (b *Breaker) Success() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failures, b.backoff, b.state = 0, 0, BreakerClosed
}

// Failure counts a failed call; it opens the breaker at the threshold, and
// re-opens it with a doubled backoff after a failed half-open call.
func (b *Breaker) Failure() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failures++
	if b.state == BreakerHalfOpen || b.failures >= b.opts.Threshold {
		switch {
		case b.backoff == 0:
			b.backoff = b.opts.BaseBackoff
		case b.state == BreakerHalfOpen:
			b.backoff = min(2*b.backoff, b.opts.MaxBackoff)
		}
		b.state = BreakerOpen
		b.openUntil = b.now().Add(b.backoff)
	}
}

// State is closed, open or half-open; RetryAt is when an open breaker lets
// the next call through.
func (b *Breaker) State() (state string, retryAt time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state, b.openUntil
}
