// Package outbox delivers pushd's callbacks to Odoo from the store's
// transactional outbox.
//
// Whatever pushd has to tell Odoo (a job changed status, a cluster became
// unreachable, drift was found) is written as a store.Event in the same
// transaction as the change it reports, so an event exists exactly when its
// change does. A Deliverer then POSTs each event to the callback URL of the
// event's organization, signed per Standard Webhooks with that
// organization's callback secret, until the receiver answers 2xx:
//
//   - Each organization its own receiver. No event goes to another
//     organization's URL or is signed with its secret, so a receiver that
//     verifies the signature knows the event is its own. An organization
//     without a receiver has its events kept, not sent (see ForOrganizations).
//   - At least once. The event's ID is the webhook-id of every attempt, so
//     the receiver deduplicates retries on it; the webhook-timestamp is the
//     time of the attempt, and each attempt is signed anew.
//   - Retries back off exponentially with jitter. Attempts, the next attempt's
//     time and the last error are stored in the event's row, so the schedule
//     survives a restart.
//   - In order per cluster. Only the oldest pending event of a cluster is
//     ever sent, so a cluster whose events fail waits, and the events of every
//     other cluster keep flowing, each cluster in its own worker.
//   - One exception to the order: an event the receiver keeps refusing is
//     parked once its attempt budget is spent (Options.ParkAfter for a 4xx
//     other than 408/429, Options.MaxAttempts and MaxAge for anything else),
//     and the cluster's later events go on without it. A parked event is
//     kept, listed and counted, and sent again — still at least once, with
//     its own webhook-id — only when an operator asks (store.ResendEvent); it
//     then arrives after events that are newer than it.
//   - Safe with several replicas on one PostgreSQL database: an event is sent
//     only by the deliverer holding its lease (see store.ClaimEvents).
package outbox
