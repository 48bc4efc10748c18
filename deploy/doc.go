// Package deploy holds no code: it is where the files that deploy pushd —
// the container image's Dockerfile (at the repository root), the compose
// file and the Kubernetes manifests beside this file — are tested, by
// building and running the image's binary the way the image does,
// server-side dry-running the manifests against a real API server and
// parsing the compose file.
package deploy
