// Command testbed starts local Kubernetes clusters for trying pushd, for demos
// and for benchmarks:
//
//	go run ./hack/testbed up --clusters N --dir DIR
//	go run ./hack/testbed build   # only build (or find) the binaries
//
// It builds kube-apiserver and etcd from source on first use (about 10-13
// minutes on 2 cores, cached afterwards), starts N clusters named testbed-1 …
// testbed-N, writes DIR/<cluster>/admin.kubeconfig (TLS verified,
// cluster-admin) and then DIR/ready, and keeps them running until interrupted,
// when it stops every process it started.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/vworkspace/pushd/internal/testbed"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "testbed:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "build" {
		// Build (or find cached) binaries only: CI does this first so the
		// test packages' TestMains find them ready.
		bins, err := testbed.EnsureBinaries(ctx, slog.New(slog.NewTextHandler(stderr, nil)))
		if err == nil {
			fmt.Fprintf(stdout, "kube-apiserver %s\netcd %s\n", bins.KubeAPIServer, bins.Etcd)
		}
		return err
	}
	if len(args) == 0 || args[0] != "up" {
		return errors.New("usage: testbed up --clusters N --dir DIR | testbed build")
	}
	fs := flag.NewFlagSet("testbed up", flag.ContinueOnError)
	fs.SetOutput(stderr)
	clusters := fs.Int("clusters", 1, "number of clusters to start")
	dir := fs.String("dir", "./testbed-run", "folder for kubeconfigs, certificates, logs and data")
	delay := fs.Duration("operator-delay", 2*time.Second, "how long the stand-in operator takes to reconcile an object")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	ready := filepath.Join(*dir, "ready")
	os.Remove(ready)
	bed, err := testbed.Start(ctx, testbed.Options{Clusters: *clusters, Dir: *dir, Logger: log, OperatorDelay: *delay})
	if err != nil {
		return err
	}
	defer func() {
		os.Remove(ready)
		if err := bed.Stop(); err != nil {
			log.Error("stop", "err", err)
		}
		log.Info("stopped every process of the test bed")
	}()
	for _, c := range bed.Clusters {
		fmt.Fprintf(stdout, "%s\t%s\tkubectl --kubeconfig %s get ns\n", c.Name, c.Host, c.AdminKubeconfig)
	}
	if err := os.WriteFile(ready, []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o644); err != nil {
		return err
	}
	log.Info("test bed ready; Ctrl-C stops it", "clusters", len(bed.Clusters), "dir", bed.Dir)
	<-ctx.Done()
	return nil
}
