package outbox

import (
	"math/rand/v2"
	"time"
)

// maxJitter is the largest share of a delay jitter takes off. With it below
// one half, every delay before the cap is still longer than the one before.
const maxJitter = 0.2

// backoff is the delay after an event's failed attempt number attempts (1
// for the first): base doubled for each earlier failure, capped at max, then
// shortened by the fraction jitter·maxJitter (jitter in [0, 1)).
func backoff(attempts int, base, max time.Duration, jitter float64) time.Duration {
	d := base
	for i := 1; i < attempts && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	return d - time.Duration(float64(d)*maxJitter*jitter)
}

// jitter is a fresh random fraction for backoff.
func jitter() float64 { return rand.Float64() }
