// Package inventory is what pushd knows about the cli-utils inventories it
// keeps in each cluster: one ConfigMap per (cluster, namespace, application),
// living in that namespace, listing every object the application's last
// apply left there.
//
// Today it holds the stable names and labels of those inventories
// (naming.go): the ConfigMap name, the inventory id cli-utils selects it by,
// and the labels pushd stamps on every object it writes. Listing inventories,
// polling their objects' status and detecting drift will live here too; they
// find pushd's inventories with the labels defined here, so those labels and
// the id derivation must never change.
package inventory
