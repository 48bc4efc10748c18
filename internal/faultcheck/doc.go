// Package faultcheck is the invariant checker of the fault suites: after a
// run in which pushd was killed, its database restarted or a cluster's API
// server went away, it holds what Odoo was told (the callback Receiver's
// record), what pushd stored and what the clusters hold against each other,
// and lists every broken promise:
//
//   - every job acknowledged with 2xx exists and is terminal, and no job
//     answered 4xx was stored (nothing refused silently, nothing accepted
//     silently);
//   - each job reached its terminal state exactly once: one terminal
//     job.status_changed event in the store, delivered under one webhook-id
//     (retries of that same event are allowed: delivery is at least once),
//     whose status and attempt are the row's — the terminal write came from
//     the last claim, never from a fenced-out one;
//   - the outbox is drained: every event the store holds was delivered (or
//     is parked), and the receiver got it; nothing arrived that the store
//     does not hold;
//   - per cluster, the events about one subject (a job, an application, the
//     cluster itself) first arrived in the order the store wrote them;
//   - on each cluster, each application's objects are those of its latest
//     intent when that job succeeded (every field the manifest sets has the
//     manifest's value, so no object carries a superseded job's manifest),
//     and objects only earlier jobs named are gone (pruned).
//
// It takes a store and a record of deliveries, so any suite that runs pushd
// (one process killed in a loop, several replicas on one PostgreSQL) can use
// it.
package faultcheck
