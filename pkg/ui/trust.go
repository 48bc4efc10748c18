package ui

import (
	"github.com/vworkspace/pushd/pkg/health"
	"github.com/vworkspace/pushd/pkg/jobs"
	"github.com/vworkspace/pushd/pkg/observe"
)

// Where the UI shows the trust model: why a queued job waits, whether a
// credential is over-privileged, and which namespaces could not be read.

// waitReason is why a queued job waits (its cluster is unreachable, say);
// "" when it does not.
func waitReason(j *jobs.Job) string {
	if j.Waiting == nil {
		return ""
	}
	return j.Waiting.Reason
}

// overPrivileged is whether a cluster's credential has rights beyond
// what pushd needs (its jobs are then refused unless the record accepts
// it); nsExcess counts the namespaces with excess rights.
func overPrivileged(st health.Status, nsExcess int) bool {
	return st.OverPrivileged() || nsExcess > 0
}

// namespaceReadError is why pushd could not read a namespace's
// applications (so "does not exist" is not claimed of a namespace it merely
// could not read); "" when it could.
func namespaceReadError(ns health.NamespaceStatus, unreadable []observe.NamespaceError) string {
	for _, e := range unreadable {
		if e.Namespace == ns.Name {
			return e.Reason
		}
	}
	return ""
}

// namespaceRow is an observed namespace as the cluster page shows it.
type namespaceRow struct {
	health.NamespaceStatus
	ReadError string
}

func newNamespaceRows(nss []health.NamespaceStatus, unreadable []observe.NamespaceError) []namespaceRow {
	out := make([]namespaceRow, 0, len(nss))
	for _, n := range nss {
		out = append(out, namespaceRow{NamespaceStatus: n, ReadError: namespaceReadError(n, unreadable)})
	}
	return out
}
