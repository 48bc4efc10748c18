package ui

import (
	"sync"
	"time"

	"github.com/vworkspace/pushd/pkg/health"
)

// notReadyReason says in a sentence why a cluster is not ready, for people
// (health.Connectivity.Reason), and when pushd tries again: the raw error
// (a Go error with URLs and dial details) stays on the cluster page,
// behind the reason.
func notReadyReason(st health.Connectivity) string {
	r := st.Reason()
	if r != "" && st.Breaker == "open" && st.RetryAt != nil {
		r += " Next try " + showTime(st.RetryAt) + "."
	}
	return r
}

// lastKnown remembers, per cluster, what the last successful probe saw
// (server version, namespaces), so the page of a cluster that went down
// keeps showing them, marked with their age, instead of "never probed".
// In memory: after a restart it fills again with the first ready probe.
type lastKnown struct {
	mu   sync.Mutex
	seen map[string]observation
}

type observation struct {
	version    string
	namespaces []health.NamespaceStatus
	at         time.Time
}

// fill records st when it holds observations, and otherwise fills it from
// the last record; it returns when that record was made (nil when st is
// the cluster's current state).
func (k *lastKnown) fill(cluster string, st *health.Status) *time.Time {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.seen == nil {
		k.seen = map[string]observation{}
	}
	if st.Connectivity.State == health.StateReady && st.ServerVersion != "" {
		at := time.Now()
		if st.Connectivity.CheckedAt != nil {
			at = *st.Connectivity.CheckedAt
		}
		k.seen[cluster] = observation{version: st.ServerVersion, namespaces: st.Namespaces, at: at}
		return nil
	}
	known, ok := k.seen[cluster]
	if !ok {
		return nil
	}
	filled := false
	if st.ServerVersion == "" {
		st.ServerVersion, filled = known.version, true
	}
	if len(st.Namespaces) == 0 && len(known.namespaces) > 0 {
		st.Namespaces, filled = known.namespaces, true
	}
	if !filled {
		return nil
	}
	return &known.at
}
