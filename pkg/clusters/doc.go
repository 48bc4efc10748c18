// Package clusters holds what pushd knows of each cluster and how it reaches
// it: identity records (the trust boundary: which namespaces, applications and
// operations a cluster accepts), their scoped ServiceAccount credentials
// (loaded, sanitised and stored) and one set of rate-limited clients per
// cluster, whose transport (Guard) follows no redirect, bounds every answer
// and never passes on an error body that is not a Kubernetes Status.
package clusters
