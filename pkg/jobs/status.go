package jobs

import "github.com/vworkspace/pushd/pkg/store"

// Status is a job's state (Job.Status), as the store keeps it: named here
// for the front-ends, which read jobs through this package and not the
// store.
type Status = store.JobStatus

// A job's states, in the order of its life.
const (
	Queued    = store.JobQueued
	Running   = store.JobRunning
	Succeeded = store.JobSucceeded
	Failed    = store.JobFailed
	Cancelled = store.JobCancelled
)

// Statuses are every state, in the order of a job's life.
var Statuses = []Status{Queued, Running, Succeeded, Failed, Cancelled}
