// Command kube-apiserver is the upstream Kubernetes API server, built from source
// at the version pinned in this module's go.mod so pushd's tests run against a
// real one. It is test support only: the product never imports this module.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
