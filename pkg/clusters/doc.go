// Package clusters holds what pushd knows of each cluster and how it reaches
// it: identity records (the trust boundary: which namespaces, applications and
// operations a cluster accepts), scoped ServiceAccount credentials (loaded,
// sanitised, stored, minted by bootstrap and renewed), and one set of
// rate-limited clients per cluster.
package clusters
