package health

import (
	"hash/fnv"
	"time"
)

// spread is a cluster's own probe interval: interval ± 10 %, fixed by its
// id. Clusters registered at once (an import, or all of them after a
// restart) are first probed at once; with intervals that differ a little
// their probes drift apart over the next minutes instead of reaching the
// API servers (often shared) in lockstep for as long as pushd runs.
func spread(id string, interval time.Duration) time.Duration {
	h := fnv.New64a()
	h.Write([]byte(id))
	frac := float64(h.Sum64()%10_000) / 10_000 // [0, 1)
	return time.Duration(float64(interval) * (0.9 + 0.2*frac))
}
