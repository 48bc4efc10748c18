// Package leases shares the clusters among the replicas of pushd on one
// database: each cluster's probes, status polls and drift checks run on the
// one replica that holds its lease, and writes made under a lost lease are
// dropped.
package leases
