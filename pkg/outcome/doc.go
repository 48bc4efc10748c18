// Package outcome judges a live Kubernetes object with CEL rules, as the
// Kubernetes API server judges its validation rules: an operation's custom
// resource (a Velero Backup, a vWorkspace Operation) has succeeded, failed or
// is still running, with a message and named outputs; an applied object of a
// kind kstatus cannot read is current, in progress or failed.
//
// The rules come from a cluster record, written by the cluster's owner, and
// run inside pushd on objects written by the cluster's controllers: so every
// rule is compiled once with a bounded size and runs with a cost limit, an
// evaluation error never stops the caller (it is reported in the verdict),
// and a verdict carries only what a rule names (its outputs) and what the
// object's own status.conditions say, never the rest of the object.
//
// The package knows nothing of pushd: it takes an object as decoded JSON
// (unstructured.Unstructured.Object) and returns plain values.
package outcome
