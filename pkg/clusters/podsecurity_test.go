package clusters

import "testing"

// TestPodSecurityEnforces: a level at or above the minimum enforces it;
// privileged is below baseline, and a missing or unknown value (which the
// API server refuses to store, but an older one or a hand-written fixture
// may carry) and an unknown minimum enforce nothing.
func TestPodSecurityEnforces(t *testing.T) {
	for _, tc := range []struct {
		level, minimum string
		want           bool
	}{
		{"restricted", "baseline", true},
		{"baseline", "baseline", true},
		{"restricted", "restricted", true},
		{"baseline", "restricted", false},
		{"privileged", "baseline", false},
		{"", "baseline", false},
		{"Restricted", "baseline", false},
		{"strict", "baseline", false},
		{"restricted", "", false},
		{"restricted", "privileged", true},
	} {
		if got := PodSecurityEnforces(tc.level, tc.minimum); got != tc.want {
			t.Errorf("PodSecurityEnforces(%q, %q) = %v, want %v", tc.level, tc.minimum, got, tc.want)
		}
	}
}
