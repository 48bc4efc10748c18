package observe

import (
	"context"
	"slices"
)

// endedCorrections returns the clusters that have an application reported
// drifted whose correction job has ended and was not answered yet, or one
// whose last check was skipped for a job in progress that has ended: Run
// checks their drift again at once, so Odoo hears drift.resolved (or of the
// next correction) when the correction ends, not at the next scheduled
// check, and an application skipped during Odoo's job is measured against
// the intent it brought. asked holds the corrections already answered with a check; it is
// trimmed to the ones still pending, so a correction is answered once even
// when its check cannot run (the cluster's schedule takes over then). Cost:
// one read of a job per pending correction.
func (w *Watcher) endedCorrections(ctx context.Context, asked map[string]bool) []string {
	pending := map[string]string{} // correction job → cluster
	w.mu.Lock()
	for cluster, st := range w.states {
		st.mu.Lock()
		for _, a := range st.apps {
			if a.reportedDrift == DriftDrifted && a.correction != "" {
				pending[a.correction] = cluster
			}
			if r := a.driftReason; a.drift == DriftUnknown && r != nil && r.Code == DriftReasonJobInProgress {
				pending[r.Job] = cluster
			}
		}
		st.mu.Unlock()
	}
	w.mu.Unlock()

	for job := range asked {
		if _, ok := pending[job]; !ok {
			delete(asked, job)
		}
	}
	var due []string
	for job, cluster := range pending {
		if asked[job] || !w.correctionOver(ctx, "", job) {
			continue
		}
		asked[job] = true
		if !slices.Contains(due, cluster) {
			due = append(due, cluster)
		}
	}
	return due
}
