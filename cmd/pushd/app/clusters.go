package app

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/config"
	"github.com/vworkspace/pushd/pkg/fleet"
	"github.com/vworkspace/pushd/pkg/jobs"
	"github.com/vworkspace/pushd/pkg/store"
)

// adminEnv is what the admin subcommands open: the same database and
// kubeconfig folder `pushd serve` uses.
type adminEnv struct {
	store    *store.Store
	registry *clusters.Registry
	monitor  *clusters.Monitor
	// fleet runs the cluster use cases the API runs too.
	fleet *fleet.Service
	// user names the person at the terminal in the audit log (audit.go).
	user   string
	stderr io.Writer
}

func openAdmin(ctx context.Context, cfg config.Config) (*adminEnv, error) {
	db, err := config.ParseDatabaseURL(cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	keys, err := cfg.ManifestKeyring()
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, db.Driver, db.DSN, store.Options{ManifestKeys: keys})
	if err != nil {
		return nil, err
	}
	creds, err := clusters.NewCredentialStore(cfg.KubeconfigDir)
	if err != nil {
		st.Close()
		return nil, err
	}
	reg := clusters.NewRegistry(st, creds, clusters.RegistryOptions{})
	mon := clusters.NewMonitor(reg, st, clusters.MonitorOptions{})
	queue := jobs.NewService(st, reg, mon, jobs.ServiceOptions{Trigger: TriggerCLI})
	return &adminEnv{store: st, registry: reg, monitor: mon, fleet: fleet.New(reg, mon, queue, fleet.Options{})}, nil
}

// clustersUsage lists the clusters subcommands.
const clustersUsage = `Usage:
  pushd clusters add ID [flags]        create a cluster record, or change what the flags name
  pushd clusters list                  every cluster with its last observed state and, if not ready, why
  pushd clusters show ID               a record and what pushd observes, as JSON
  pushd clusters check ID              probe now; non-zero exit unless ready with every right
  pushd clusters bootstrap --admin-kubeconfig FILE --cluster ID
                                       mint a least-privilege ServiceAccount credential

Run 'pushd clusters CMD --help' for a command's flags.
`

func clustersCmd(ctx context.Context, args []string, getenv func(string) string, io streams) error {
	if len(args) == 0 || isHelp(args[0]) {
		fmt.Fprint(io.out, clustersUsage)
		if len(args) == 0 {
			return hint(errors.New("clusters: a command is required"), "run 'pushd clusters --help' for the commands")
		}
		return flag.ErrHelp
	}
	cmd, args := args[0], args[1:]
	cfg := config.Default()
	fs := flag.NewFlagSet("pushd clusters "+cmd, flag.ContinueOnError)
	envs := bindSettings(fs, scopeState, &cfg, nil)
	var run func(ctx context.Context, env *adminEnv) error
	synopsis := "pushd clusters " + cmd + " ID [flags]"
	switch cmd {
	case "add":
		var namespaces, apps, ops, kubeconfig, displayName, schedule, mode string
		org := fs.String("organization", config.DefaultOrganization, "the organization the cluster belongs to")
		fs.StringVar(&displayName, "display-name", "", "human name (default: the id)")
		fs.StringVar(&namespaces, "namespaces", "", "comma-separated allowed namespaces")
		fs.StringVar(&apps, "applications", "", "comma-separated allowed applications")
		fs.StringVar(&ops, "operations", "manifest/deploy", "comma-separated allowed engine/type operations")
		fs.StringVar(&schedule, "drift-schedule", "", "cron expression for drift checks (empty: none)")
		fs.StringVar(&mode, "drift-mode", "report", "report or correct")
		fs.StringVar(&kubeconfig, "kubeconfig", "", "scoped kubeconfig file to store as the cluster's credential (one that fails its probe does not replace a working one)")
		acceptExcess := fs.Bool("accept-excess-rights", false, "run jobs even when the credential holds rights beyond the record's (off: such a cluster's jobs are refused as over_privileged)")
		run = func(ctx context.Context, env *adminEnv) error {
			if fs.NArg() != 1 {
				return hint(errors.New("clusters add: one cluster id is required"), "usage: "+synopsis)
			}
			id := fs.Arg(0)
			// On an existing record only the flags given change it: re-running
			// add with --drift-schedule must not empty its namespaces.
			rec := clusters.Record{ID: id, Drift: clusters.Drift{Mode: mode}}
			existing, err := env.registry.Get(ctx, *org, id)
			switch {
			case err == nil:
				rec = *existing
			case !errors.Is(err, clusters.ErrNotFound):
				return fmt.Errorf("cluster %q: %w", id, err)
			}
			given := map[string]bool{}
			fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
			set := func(name string, apply func()) {
				if given[name] || existing == nil {
					apply()
				}
			}
			set("display-name", func() { rec.DisplayName = displayName })
			set("namespaces", func() { rec.AllowedNamespaces = splitList(namespaces) })
			set("applications", func() { rec.AllowedApplications = splitList(apps) })
			set("drift-schedule", func() { rec.Drift.Schedule = schedule })
			set("drift-mode", func() { rec.Drift.Mode = mode })
			set("accept-excess-rights", func() { rec.AcceptExcessRights = *acceptExcess })
			var opErr error
			set("operations", func() {
				rec.AllowedOperations = nil
				for _, op := range splitList(ops) {
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
			out, created, err := env.registry.Put(ctx, *org, rec)
			env.audit(ctx, *org, store.AuditRecordWritten, id, "", err)
			if err != nil {
				return fmt.Errorf("cluster %q: %w", id, err)
			}
			verb := "updated"
			if created {
				verb = "created"
			}
			fmt.Fprintf(io.out, "cluster %s %s (organization %s, namespaces %s)\n", out.ID, verb, out.Organization, strings.Join(out.AllowedNamespaces, ","))
			if kubeconfig == "" {
				return nil
			}
			data, err := os.ReadFile(kubeconfig)
			if err != nil {
				return err
			}
			// As through the API: a kubeconfig that fails its probe does
			// not replace one that works.
			cur, st, err := env.fleet.ReplaceCredential(ctx, *org, out.ID, data)
			env.audit(ctx, *org, store.AuditCredentialReplaced, out.ID, "", err)
			if rej, ok := errors.AsType[*fleet.RejectedError](err); ok && rej.Probe.Connectivity.Message != "" {
				return hint(fmt.Errorf("cluster %q: %w", out.ID, err), "the new kubeconfig's probe: "+rej.Probe.Connectivity.Message)
			}
			if err != nil {
				return fmt.Errorf("cluster %q: %w", out.ID, err)
			}
			return report(cur, st, io)
		}
	case "list":
		synopsis = "pushd clusters list [flags]"
		run = func(ctx context.Context, env *adminEnv) error {
			recs, err := env.registry.List(ctx, "")
			if err != nil {
				return err
			}
			observed, err := env.monitor.ObservedAll(ctx)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(io.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tORGANIZATION\tSTATE\tCHECKED\tNAMESPACES\tREASON")
			for _, r := range recs {
				st := observed[r.ID]
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Organization, st.Connectivity.State, ago(st.Connectivity.CheckedAt), strings.Join(r.AllowedNamespaces, ","), st.Connectivity.Reason())
			}
			return w.Flush()
		}
	case "show":
		run = func(ctx context.Context, env *adminEnv) error {
			rec, err := oneCluster(ctx, env, fs)
			if err != nil {
				return err
			}
			st, err := env.monitor.Observed(ctx, rec.ID)
			if err != nil {
				return err
			}
			enc := json.NewEncoder(io.out)
			enc.SetIndent("", "  ")
			return enc.Encode(map[string]any{"record": rec, "observed": st})
		}
	case "check":
		run = func(ctx context.Context, env *adminEnv) error {
			id, err := oneID(fs)
			if err != nil {
				return err
			}
			return check(ctx, env, "", id, io)
		}
	case "bootstrap":
		synopsis = "pushd clusters bootstrap --admin-kubeconfig FILE --cluster ID [flags]"
		var adminKubeconfig, clusterID, namespaces, saNamespace string
		var ttl time.Duration
		fs.StringVar(&adminKubeconfig, "admin-kubeconfig", "", "an administrator's kubeconfig, used once to create pushd's ServiceAccount and RBAC")
		fs.StringVar(&clusterID, "cluster", "", "the cluster id (its record must exist)")
		fs.StringVar(&namespaces, "namespaces", "", "comma-separated namespaces to grant (default: the record's allowed namespaces)")
		fs.StringVar(&saNamespace, "service-account-namespace", "", "where the record's ServiceAccount (pushd-ID) lives (default vworkspace-pushd)")
		fs.DurationVar(&ttl, "token-ttl", 24*time.Hour, "lifetime of the minted token; pushd renews it before it expires")
		run = func(ctx context.Context, env *adminEnv) error {
			if adminKubeconfig == "" || clusterID == "" {
				return hint(errors.New("clusters bootstrap: --admin-kubeconfig and --cluster are required"), "usage: "+synopsis)
			}
			rec, err := env.registry.Get(ctx, "", clusterID)
			if err != nil {
				return fmt.Errorf("cluster %q: %w (add it first: pushd clusters add %s --namespaces …)", clusterID, err, clusterID)
			}
			// The administrator's own kubeconfig, at their own terminal: loaded
			// the way kubectl would (it may use exec plugins), used once, never stored.
			admin, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
				&clientcmd.ClientConfigLoadingRules{ExplicitPath: adminKubeconfig}, &clientcmd.ConfigOverrides{}).ClientConfig()
			if err != nil {
				return fmt.Errorf("--admin-kubeconfig: %w", err)
			}
			nss := rec.AllowedNamespaces
			if namespaces != "" {
				nss = splitList(namespaces)
			}
			res, err := clusters.Bootstrap(ctx, admin, clusters.BootstrapOptions{
				ClusterID: rec.ID, Namespaces: nss, ServiceAccountNamespace: saNamespace, TokenTTL: ttl,
			})
			if err != nil {
				env.audit(ctx, rec.Organization, store.AuditCredentialBootstrap, rec.ID, "", err)
				return err
			}
			for _, ns := range res.Granted {
				fmt.Fprintf(io.out, "granted   %s\n", ns)
			}
			for _, s := range res.Skipped {
				fmt.Fprintf(io.out, "skipped   %s: %s\n", s.Name, s.Reason)
			}
			err = env.registry.Credentials().Save(rec.ID, res.Credential)
			env.audit(ctx, rec.Organization, store.AuditCredentialBootstrap, rec.ID, "", err)
			if err != nil {
				return err
			}
			fmt.Fprintf(io.out, "credential stored for %s (token expires %s; pushd renews it)\n", rec.ID, res.Expiry.Format(time.RFC3339))
			return check(ctx, env, rec.Organization, rec.ID, io)
		}
	default:
		return hint(fmt.Errorf("unknown command %q", "clusters "+cmd), "run 'pushd clusters --help' for the commands")
	}
	env, err := parseAdmin(ctx, fs, synopsis, args, envs, getenv, &cfg, io)
	if err != nil {
		return err
	}
	defer env.store.Close()
	return run(ctx, env)
}

// parseAdmin parses an admin command's flags — the id may come before them
// (pushd clusters add ID --namespaces …), where the flag package would stop —
// applies the environment, and opens the store and credentials.
func parseAdmin(ctx context.Context, fs *flag.FlagSet, synopsis string, args []string, envs map[string]string, getenv func(string) string, cfg *config.Config, io streams) (*adminEnv, error) {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		args = append(args[1:len(args):len(args)], args[0])
	}
	if err := parseFlags(fs, synopsis, args, io); err != nil {
		return nil, err
	}
	quietKlog()
	if err := applyEnv(fs, envs, getenv); err != nil {
		return nil, err
	}
	env, err := openAdmin(ctx, *cfg)
	if err != nil {
		return nil, err
	}
	env.user, env.stderr = localUser(getenv), io.err
	return env, nil
}

// oneID is the one cluster id a command takes.
func oneID(fs *flag.FlagSet) (string, error) {
	if fs.NArg() != 1 {
		return "", hint(errors.New(strings.TrimPrefix(fs.Name(), "pushd ")+": one cluster id is required"), "usage: "+fs.Name()+" ID")
	}
	return fs.Arg(0), nil
}

func oneCluster(ctx context.Context, env *adminEnv, fs *flag.FlagSet) (*clusters.Record, error) {
	if _, err := oneID(fs); err != nil {
		return nil, err
	}
	rec, err := env.registry.Get(ctx, "", fs.Arg(0))
	if err != nil {
		return nil, fmt.Errorf("cluster %q: %w", fs.Arg(0), err)
	}
	return rec, nil
}

// check probes org's cluster id now (fleet.Check) and reports what it found.
func check(ctx context.Context, env *adminEnv, org, id string, io streams) error {
	rec, st, err := env.fleet.Check(ctx, org, id)
	if err != nil {
		return fmt.Errorf("cluster %q: %w", id, err)
	}
	return report(rec, st, io)
}

// report prints what a probe found and fails unless the cluster is ready
// with every right it needs. The first line is the verdict (never "ready"
// above a list of problems); each problem says how to fix it.
func report(rec *clusters.Record, st clusters.Status, io streams) error {
	c := st.Connectivity
	var lines []string
	if st.Credential.Subject != "" {
		exp := "never"
		if st.Credential.Expiry != nil {
			exp = st.Credential.Expiry.Format(time.RFC3339)
		}
		lines = append(lines, fmt.Sprintf("  credential  %s, expires %s", st.Credential.Subject, exp))
	}
	problems := 0
	problem := func(format string, a ...any) {
		lines = append(lines, fmt.Sprintf(format, a...))
		problems++
	}
	for _, e := range st.Credential.ExcessRights {
		problem("  EXCESS      %s", e)
	}
	for _, ns := range st.Namespaces {
		switch {
		case !ns.Exists:
			problem("  namespace   %s: does not exist: create it, label it %s=%s, then run pushd clusters bootstrap", ns.Name, clusters.ManagedNamespaceLabel, clusters.ManagedNamespaceValue)
		case !ns.Labeled:
			problem("  namespace   %s: not labeled %s=%s", ns.Name, clusters.ManagedNamespaceLabel, clusters.ManagedNamespaceValue)
		case !ns.RightsOK:
			problem("  namespace   %s: missing %d rights, e.g. %s", ns.Name, len(ns.MissingRights), ns.MissingRights[0])
		default:
			lines = append(lines, fmt.Sprintf("  namespace   %s: ok", ns.Name))
		}
		for _, e := range ns.ExcessRights {
			problem("  EXCESS      %s in %s", e, ns.Name)
		}
	}
	verdict := string(c.State)
	if c.State == clusters.StateReady && problems > 0 {
		verdict = plural(problems, "problem")
	}
	if c.Message != "" {
		verdict += " (" + c.Message + ")"
	}
	fmt.Fprintf(io.out, "%s: %s\n", rec.ID, verdict)
	for _, l := range lines {
		fmt.Fprintln(io.out, l)
	}
	if c.State != clusters.StateReady {
		return fmt.Errorf("cluster %q is %s", rec.ID, c.State)
	}
	if problems > 0 {
		return fmt.Errorf("cluster %q: %s", rec.ID, plural(problems, "problem"))
	}
	return nil
}

// plural is "1 problem", "2 problems".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func ago(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return time.Since(*t).Round(time.Second).String() + " ago"
}
