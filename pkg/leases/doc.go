// Package leases assigns the clusters to the replicas of pushd that observe
// them: each cluster's probes, status polls and drift checks run on one
// replica, under a context that fences their writes. Among replicas on one
// database the Keeper assigns by lease, and writes made under a lost lease
// are dropped (`pushd serve` runs one on SQLite too); a process that runs
// no Keeper (the CLI, tests) observes every cluster (Solo). Both are an
// Assigner.
package leases
