// Package bootstrap mints pushd's own credential for a cluster: with an
// admin credential, once, a ServiceAccount of the cluster record's own with
// least-privilege rights in its allowed namespaces and a short-lived token,
// which that credential then renews by itself (RenewToken).
package bootstrap
