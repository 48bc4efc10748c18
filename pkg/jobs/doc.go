// Package jobs is pushd's work queue: it takes a job from Odoo, checks it
// against the cluster's identity record before anything is stored, keeps it
// in the database (so an acknowledged job survives any restart), and runs it
// with the cluster's apply engine on per-cluster workers.
//
// Ordering and isolation: jobs of one (cluster, namespace, application) run
// one at a time in submission order; jobs of other applications and clusters
// run in parallel, each cluster with its own concurrency limit. A worker holds
// a job through a lease it keeps renewing; a job whose worker died is taken up
// again once its lease expires, and the attempt number it was claimed with
// fences the old worker out, so a job reaches its terminal state exactly once.
// Every status change and its job.status_changed event are written in one
// transaction (the outbox delivers the event).
package jobs
