// Package health watches whether pushd can reach and use each cluster: the
// monitor probes every cluster (reachability, the credential's identity and
// rights) behind the cluster's own circuit breaker, renews a token that is
// due, and records an event for each change it sees.
package health
