// Package fleet is what pushd does to the clusters it serves, written once
// for every front-end: the use cases the HTTP API and the CLI share
// (Service: replace a credential and roll it back when it fails its probe,
// delete a cluster, check one now) and the loops that keep the stored
// history bounded (Janitor, Retention). A front-end parses, authorizes and
// renders; the steps and their order are here, so the API and the CLI
// cannot disagree.
//
// It sits above pkg/clusters, pkg/jobs and pkg/observe and reaches them
// through the small interfaces it declares (deps.go), each with a fake
// beside it (fake.go) for tests that need no cluster and no database.
package fleet
