// Package apply is pushd's apply engine: it makes one application's objects
// in one namespace of one cluster match a job's manifests, and reports what
// it did object by object.
//
// It wraps sigs.k8s.io/cli-utils (server-side apply, a ConfigMap inventory
// per application, pruning, kstatus waits) and adds what pushd's rules
// need around it:
//
//   - the namespace must carry managed-by=vworkspace at run time;
//   - every object is stamped with the cluster-id label and must live in the
//     job's namespace;
//   - a server-side dry-run of every object (the preflight) must pass before
//     the first write, so an invalid manifest changes nothing;
//   - objects owned by another inventory, or by none, are never taken over;
//   - custom resources of the operator's API groups count as reconciled only
//     once their controller has observed their generation.
//
// An Engine is built once per cluster from that cluster's clients and is
// safe for concurrent use by jobs of different applications. Runs on one
// application must be serialized by the caller: cli-utils rewrites the
// inventory ConfigMap with optimistic concurrency.
//
// The wiring follows "Working with cli-utils" in docs/architecture.md: a
// RESTClientGetter that never reads a kubeconfig file, REST clients sharing
// the cluster's HTTP client and rate limiter, and a status watcher that
// stays namespace-scoped (a scoped credential cannot list cluster-wide) and
// only sees pushd's objects.
package apply
