// Command pushd is the Push-mode link between vWorkspace's Odoo control plane
// and its Kubernetes clusters. See the README.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/vworkspace/pushd/cmd/pushd/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := app.Run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
