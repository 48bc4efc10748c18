// Package observe watches what pushd applied: the status of each
// application's objects, their drift from Odoo's latest intent, and the
// schedules that drive both. It reads clusters with pkg/inventory's
// helpers and calls back up only through Corrector, an interface it owns
// (pkg/jobs implements it).
//
//   - Watcher (watcher.go) keeps the latest view of each cluster's
//     applications, read from the cluster itself, which is the source of
//     truth: Poll (poll.go) reads the objects' kstatus with one
//     label-selected LIST per (kind, namespace); CheckDrift (drift.go)
//     compares the objects with the application's latest intent (the
//     newest job that passed its preflight, store.LatestIntent); Run (schedule.go) polls on an interval and
//     checks drift on each cluster's cron schedule; Applications and
//     Application (view.go) are the API's read models.
//   - Changes reach Odoo as outbox events, one per transition:
//     application.health_changed, drift.detected, drift.resolved. In drift
//     mode "correct" the Corrector queues a re-apply.
//   - What Odoo was last told of each application (health, drift, the
//     drifted objects, the correction job) is a store.ApplicationState row,
//     written in the same transaction as the event a change causes and read
//     back at start (state.go): nothing is rebuilt from the outbox.
//
// A cluster that cannot be read makes its applications unknown — never
// drifted or missing — and sends no drift event. Each cluster is polled and
// checked in its own goroutine under its own timeout, behind its breaker.
package observe
