// Package testbed runs real Kubernetes API servers on this machine for pushd's
// tests, benchmarks and demos: one etcd, N kube-apiservers built from upstream
// source (hack/kube), each with its own CA and serving certificate (clients
// verify TLS), a static cluster-admin token, ServiceAccount signing keys (so
// TokenRequest works) and RBAC authorization. It installs the test CRDs and runs
// the stand-in operator (package operator) against every cluster.
//
// It is test support, not product: nothing under pkg/ or cmd/ imports it.
//
// Every process it starts runs in its own process group with a parent-death
// signal, and Bed.Stop ends them all (SIGTERM, a grace period, then SIGKILL),
// so neither a failing test nor an interrupted one leaves servers behind.
package testbed
