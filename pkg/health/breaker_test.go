package health

import (
	"testing"
	"time"
)

func TestBreaker(t *testing.T) {
	now := time.Unix(0, 0)
	b := NewBreaker(BreakerOptions{Threshold: 2, BaseBackoff: 10 * time.Second, MaxBackoff: 25 * time.Second}, func() time.Time { return now })
	step := func(desc string, allow bool, state string) {
		t.Helper()
		if got := b.Admit(); got != allow {
			t.Fatalf("%s: Admit = %v, want %v", desc, got, allow)
		}
		if got, _ := b.State(); got != state {
			t.Fatalf("%s: state = %s, want %s", desc, got, state)
		}
	}
	step("new", true, BreakerClosed)
	b.Failure()
	step("one failure stays closed", true, BreakerClosed)
	b.Failure()
	step("threshold opens", false, BreakerOpen)
	now = now.Add(9 * time.Second)
	step("still backing off", false, BreakerOpen)
	now = now.Add(time.Second)
	step("backoff over: one half-open call", true, BreakerHalfOpen)
	step("only one call while half-open", false, BreakerHalfOpen)
	b.Failure()
	if _, retry := b.State(); retry != now.Add(20*time.Second) {
		t.Fatalf("failed half-open call must double the backoff: retry at %v", retry)
	}
	now = now.Add(20 * time.Second)
	step("second half-open", true, BreakerHalfOpen)
	b.Failure()
	if _, retry := b.State(); retry != now.Add(25*time.Second) {
		t.Fatalf("backoff must be capped at MaxBackoff: retry at %v", retry)
	}
	now = now.Add(25 * time.Second)
	step("third half-open", true, BreakerHalfOpen)
	b.Success()
	step("success closes", true, BreakerClosed)
	b.Failure()
	step("failures counted afresh after closing", true, BreakerClosed)
}
