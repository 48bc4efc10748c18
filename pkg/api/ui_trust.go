package api

import (
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/jobs"
)

// The places where the UI shows what the trust work (issue 9) adds to the
// packages below it. Each is one function here, called where its page is
// built, and its template already renders the value when it is not empty;
// until the fields exist, each returns what can be known without them.
// After the merge, each function's body becomes a field read.

// uiJobWaiting is why a queued job waits (e.g. "the cluster is
// unreachable: waiting for it to come back"); "" when it does not.
// Issue 9: return the job's wait reason.
func uiJobWaiting(*jobs.Job) string { return "" }

// uiOverPrivileged is whether a cluster's credential has rights beyond
// what pushd needs. Issue 9: also true for the over_privileged state.
func uiOverPrivileged(st clusters.Status, nsExcess int) bool {
	return len(st.Credential.ExcessRights) > 0 || nsExcess > 0
}

// uiNamespaceReadError is why pushd could not read a namespace's state
// (so "does not exist" is not claimed of a namespace it merely could not
// read). Issue 9: return the namespace's read error.
func uiNamespaceReadError(clusters.NamespaceStatus) string { return "" }

// uiFailedApplications counts a cluster's applications whose health is
// Failed, from the watcher's last results (observe.Watcher.FailedCount);
// -1 when the inventory cannot say without asking the cluster.
func (u *ui) uiFailedApplications(cluster string) int {
	if fc, ok := u.s.Inventory.(interface{ FailedCount(cluster string) int }); ok {
		return fc.FailedCount(cluster)
	}
	return -1
}

// uiNamespace is an observed namespace as the cluster page shows it.
type uiNamespace struct {
	clusters.NamespaceStatus
	ReadError string
}

func newUINamespaces(nss []clusters.NamespaceStatus) []uiNamespace {
	out := make([]uiNamespace, 0, len(nss))
	for _, n := range nss {
		out = append(out, uiNamespace{NamespaceStatus: n, ReadError: uiNamespaceReadError(n)})
	}
	return out
}
