package ui

import (
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/jobs"
	"github.com/vworkspace/pushd/pkg/observe"
)

// Where the UI shows the trust model: why a queued job waits, whether a
// credential is over-privileged, and which namespaces could not be read.

// uiJobWaiting is why a queued job waits (its cluster is unreachable, say);
// "" when it does not.
func uiJobWaiting(j *jobs.Job) string {
	if j.Waiting == nil {
		return ""
	}
	return j.Waiting.Reason
}

// uiOverPrivileged is whether a cluster's credential has rights beyond
// what pushd needs (its jobs are then refused unless the record accepts
// it); nsExcess counts the namespaces with excess rights.
func uiOverPrivileged(st clusters.Status, nsExcess int) bool {
	return st.OverPrivileged() || nsExcess > 0
}

// uiNamespaceReadError is why pushd could not read a namespace's
// applications (so "does not exist" is not claimed of a namespace it merely
// could not read); "" when it could.
func uiNamespaceReadError(ns clusters.NamespaceStatus, unreadable []observe.NamespaceError) string {
	for _, e := range unreadable {
		if e.Namespace == ns.Name {
			return e.Reason
		}
	}
	return ""
}

// uiNamespace is an observed namespace as the cluster page shows it.
type uiNamespace struct {
	clusters.NamespaceStatus
	ReadError string
}

func newUINamespaces(nss []clusters.NamespaceStatus, unreadable []observe.NamespaceError) []uiNamespace {
	out := make([]uiNamespace, 0, len(nss))
	for _, n := range nss {
		out = append(out, uiNamespace{NamespaceStatus: n, ReadError: uiNamespaceReadError(n, unreadable)})
	}
	return out
}
