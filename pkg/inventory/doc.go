// Package inventory is what pushd knows about the cli-utils inventories it
// keeps in each cluster: one ConfigMap per (cluster, namespace, application),
// living in that namespace, listing every object the application's last
// apply left there.
//
//   - naming.go: the stable names and labels of those inventories (the
//     ConfigMap name, the inventory id cli-utils selects it by, the labels
//     pushd stamps on every object it writes). Everything else here finds
//     pushd's inventories and objects with them, so none may ever change.
//   - Watcher (watcher.go) keeps the latest view of each cluster's
//     applications, read from the cluster itself, which is the source of
//     truth: Poll (poll.go) reads the objects' kstatus with one
//     label-selected LIST per (kind, namespace); CheckDrift (drift.go)
//     compares the objects with the last applied state (the last succeeded
//     apply job in the store); Run (schedule.go) polls on an interval and
//     checks drift on each cluster's cron schedule; Applications and
//     Application (view.go) serve the API.
//   - Changes reach Odoo as outbox events, one per transition:
//     application.health_changed, drift.detected, drift.resolved. In drift
//     mode "correct" a Corrector (pkg/jobs) queues a re-apply.
//
// A cluster that cannot be read makes its applications unknown — never
// drifted or missing — and sends no drift event. Each cluster is polled and
// checked in its own goroutine under its own timeout, behind its breaker.
package inventory
