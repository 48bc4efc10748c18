// Package inventory is the model of the cli-utils inventories pushd keeps
// in each cluster — one ConfigMap per (cluster, namespace, application),
// living in that namespace, listing every object the application's last
// apply left there — and the shared ways of reading them back.
//
//   - naming.go: the stable names and labels of those inventories (the
//     ConfigMap name, the inventory id cli-utils selects it by, the labels
//     and annotation pushd stamps on every object it writes). Everything
//     else finds pushd's inventories and objects with them, so none may
//     ever change.
//   - live.go: List reads a cluster's inventories, LiveObjects the objects
//     they name, with label-selected LISTs.
//   - mapping.go, generation.go, manifests.go: the one REST-mapping rule
//     (rediscover once per pass), the one "controller has observed the
//     generation" rule and the one decoder of stored manifests, shared by
//     pkg/apply, pkg/jobs and pkg/observe so they cannot disagree.
//
// It sits below pkg/apply and imports nothing of pushd but pkg/clusters.
package inventory
