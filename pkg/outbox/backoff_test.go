package outbox

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	const base, max = time.Second, 10 * time.Minute
	tests := []struct {
		attempts int
		want     time.Duration // before jitter
	}{
		{attempts: 1, want: time.Second},
		{attempts: 2, want: 2 * time.Second},
		{attempts: 3, want: 4 * time.Second},
		{attempts: 10, want: 512 * time.Second},
		{attempts: 11, want: max}, // 1024s, capped
		{attempts: 1000, want: max},
	}
	for _, tt := range tests {
		if got := backoff(tt.attempts, base, max, 0); got != tt.want {
			t.Errorf("backoff(%d) without jitter = %s, want %s", tt.attempts, got, tt.want)
		}
		// The most jitter takes off is a fifth.
		if got, want := backoff(tt.attempts, base, max, 0.999999), tt.want*4/5; got < want || got > tt.want {
			t.Errorf("backoff(%d) with full jitter = %s, want within [%s, %s]", tt.attempts, got, want, tt.want)
		}
	}
	// Below the cap every delay outgrows the previous one, whatever the jitter.
	for n := 1; n < 10; n++ {
		if longest, shortest := backoff(n, base, max, 0), backoff(n+1, base, max, 0.999999); shortest <= longest {
			t.Errorf("attempt %d may wait %s, attempt %d only %s", n, longest, n+1, shortest)
		}
	}
}
