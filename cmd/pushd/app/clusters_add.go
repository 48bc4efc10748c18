package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/fleet"
	"github.com/vworkspace/pushd/pkg/store"
)

// clustersAdd is `pushd clusters add ID`: it creates a cluster record, or
// changes on an existing one only what its flags name (re-running add with
// --drift-schedule must not empty its namespaces), and with --kubeconfig
// stores the cluster's credential and probes it.
type clustersAdd struct {
	admin
	org, displayName, namespaces, apps, ops, schedule, mode, kubeconfig string
	acceptExcess                                                        bool
}

func (c *clustersAdd) flags(fs *flag.FlagSet) map[string]string {
	organizationFlag(fs, &c.org, "cluster")
	fs.StringVar(&c.displayName, "display-name", "", "human name (default: the id)")
	fs.StringVar(&c.namespaces, "namespaces", "", "comma-separated allowed namespaces")
	fs.StringVar(&c.apps, "applications", "", "comma-separated allowed applications")
	fs.StringVar(&c.ops, "operations", "manifest/deploy", "comma-separated allowed engine/type operations")
	fs.StringVar(&c.schedule, "drift-schedule", "", "cron expression for drift checks (empty: none)")
	fs.StringVar(&c.mode, "drift-mode", clusters.DriftReport, clusters.DriftReport+" or "+clusters.DriftCorrect)
	fs.StringVar(&c.kubeconfig, "kubeconfig", "", "scoped kubeconfig file to store as the cluster's credential (one that fails its probe does not replace a working one)")
	fs.BoolVar(&c.acceptExcess, "accept-excess-rights", false, "run jobs even when the credential holds rights beyond the record's (off: such a cluster's jobs are refused as over_privileged)")
	return c.bindState(fs, 0)
}

func (c *clustersAdd) do(ctx context.Context, x *call, env *adminEnv) error {
	id := x.arg
	rec := clusters.Record{ID: id, Drift: clusters.Drift{Mode: c.mode}}
	existing, err := env.registry.Get(ctx, c.org, id)
	switch {
	case err == nil:
		rec = *existing
	case !errors.Is(err, clusters.ErrNotFound):
		return fmt.Errorf("cluster %q: %w", id, err)
	}
	given := map[string]bool{}
	x.fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	set := func(name string, apply func()) {
		if given[name] || existing == nil {
			apply()
		}
	}
	set("display-name", func() { rec.DisplayName = c.displayName })
	set("namespaces", func() { rec.AllowedNamespaces = splitList(c.namespaces) })
	set("applications", func() { rec.AllowedApplications = splitList(c.apps) })
	set("drift-schedule", func() { rec.Drift.Schedule = c.schedule })
	set("drift-mode", func() { rec.Drift.Mode = c.mode })
	set("accept-excess-rights", func() { rec.AcceptExcessRights = c.acceptExcess })
	var opErr error
	set("operations", func() {
		rec.AllowedOperations = nil
		for _, op := range splitList(c.ops) {
			engine, typ, ok := strings.Cut(op, "/")
			if !ok {
				opErr = fmt.Errorf("--operations %q: want engine/type", op)
				return
			}
			rec.AllowedOperations = append(rec.AllowedOperations, clusters.Operation{Engine: engine, Type: typ})
		}
	})
	if opErr != nil {
		return opErr
	}
	out, created, err := env.registry.Put(ctx, c.org, rec)
	env.audit(ctx, c.org, store.AuditRecordWritten, id, "", err)
	if err != nil {
		return fmt.Errorf("cluster %q: %w", id, err)
	}
	verb := "updated"
	if created {
		verb = "created"
	}
	fmt.Fprintf(x.io.out, "cluster %s %s (organization %s, namespaces %s)\n", out.ID, verb, out.Organization, strings.Join(out.AllowedNamespaces, ","))
	if c.kubeconfig == "" {
		return nil
	}
	data, err := os.ReadFile(c.kubeconfig)
	if err != nil {
		return err
	}
	// As through the API: a kubeconfig that fails its probe does not
	// replace one that works.
	cur, st, err := env.fleet.ReplaceCredential(ctx, c.org, out.ID, data)
	env.audit(ctx, c.org, store.AuditCredentialReplaced, out.ID, "", err)
	if rej, ok := errors.AsType[*fleet.RejectedError](err); ok && rej.Probe.Connectivity.Message != "" {
		return hint(fmt.Errorf("cluster %q: %w", out.ID, err), "the new kubeconfig's probe: "+rej.Probe.Connectivity.Message)
	}
	if err != nil {
		return fmt.Errorf("cluster %q: %w", out.ID, err)
	}
	return report(cur, st, x.io)
}
