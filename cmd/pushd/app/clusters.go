package app

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/config"
	"github.com/vworkspace/pushd/pkg/store"
)

// adminEnv is what the admin subcommands open: the same database and
// kubeconfig folder `pushd serve` uses.
type adminEnv struct {
	store    *store.Store
	registry *clusters.Registry
	monitor  *clusters.Monitor
}

func openAdmin(ctx context.Context, cfg config.Config) (*adminEnv, error) {
	db, err := config.ParseDatabaseURL(cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, db.Driver, db.DSN, store.Options{})
	if err != nil {
		return nil, err
	}
	creds, err := clusters.NewCredentialStore(cfg.KubeconfigDir)
	if err != nil {
		st.Close()
		return nil, err
	}
	reg := clusters.NewRegistry(st, creds, clusters.RegistryOptions{})
	return &adminEnv{store: st, registry: reg, monitor: clusters.NewMonitor(reg, st, clusters.MonitorOptions{})}, nil
}

func clustersCmd(ctx context.Context, args []string, getenv func(string) string, io streams) error {
	if len(args) == 0 {
		return errors.New("usage: pushd clusters add|list|show|check|bootstrap [flags]")
	}
	cmd, args := args[0], args[1:]
	cfg := config.Default()
	fs := flag.NewFlagSet("pushd clusters "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.err)
	envs := stateFlags(fs, &cfg)
	var run func(ctx context.Context, env *adminEnv) error
	switch cmd {
	case "add":
		rec := clusters.Record{}
		var namespaces, apps, ops, kubeconfig string
		org := fs.String("organization", config.DefaultOrganization, "the organization the cluster belongs to")
		fs.StringVar(&rec.DisplayName, "display-name", "", "human name (default: the id)")
		fs.StringVar(&namespaces, "namespaces", "", "comma-separated allowed namespaces")
		fs.StringVar(&apps, "applications", "", "comma-separated allowed applications")
		fs.StringVar(&ops, "operations", "manifest/deploy", "comma-separated allowed engine/type operations")
		fs.StringVar(&rec.Drift.Schedule, "drift-schedule", "", "cron expression for drift checks (empty: none)")
		fs.StringVar(&rec.Drift.Mode, "drift-mode", "report", "report or correct")
		fs.StringVar(&kubeconfig, "kubeconfig", "", "scoped kubeconfig file to store as the cluster's credential")
		run = func(ctx context.Context, env *adminEnv) error {
			if fs.NArg() != 1 {
				return errors.New("usage: pushd clusters add ID [flags]")
			}
			rec.ID = fs.Arg(0)
			rec.AllowedNamespaces, rec.AllowedApplications = splitList(namespaces), splitList(apps)
			for _, op := range splitList(ops) {
				engine, typ, ok := strings.Cut(op, "/")
				if !ok {
					return fmt.Errorf("--operations %q: want engine/type", op)
				}
				rec.AllowedOperations = append(rec.AllowedOperations, clusters.Operation{Engine: engine, Type: typ})
			}
			out, created, err := env.registry.Put(ctx, *org, rec)
			if err != nil {
				return err
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
			if err := env.registry.SetKubeconfig(ctx, *org, out.ID, data); err != nil {
				return err
			}
			return check(ctx, env, out, io)
		}
	case "list":
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
			fmt.Fprintln(w, "ID\tORGANIZATION\tSTATE\tCHECKED\tNAMESPACES\tMESSAGE")
			for _, r := range recs {
				st := observed[r.ID]
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Organization, st.Connectivity.State, ago(st.Connectivity.CheckedAt), strings.Join(r.AllowedNamespaces, ","), st.Connectivity.Message)
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
			rec, err := oneCluster(ctx, env, fs)
			if err != nil {
				return err
			}
			return check(ctx, env, rec, io)
		}
	case "bootstrap":
		var adminKubeconfig, clusterID, namespaces, saNamespace string
		var ttl time.Duration
		fs.StringVar(&adminKubeconfig, "admin-kubeconfig", "", "an administrator's kubeconfig, used once to create pushd's ServiceAccount and RBAC")
		fs.StringVar(&clusterID, "cluster", "", "the cluster id (its record must exist)")
		fs.StringVar(&namespaces, "namespaces", "", "comma-separated namespaces to grant (default: the record's allowed namespaces)")
		fs.StringVar(&saNamespace, "service-account-namespace", "", "where the record's ServiceAccount (pushd-ID) lives (default vworkspace-pushd)")
		fs.DurationVar(&ttl, "token-ttl", 24*time.Hour, "lifetime of the minted token; pushd renews it before it expires")
		run = func(ctx context.Context, env *adminEnv) error {
			if adminKubeconfig == "" || clusterID == "" {
				return errors.New("usage: pushd clusters bootstrap --admin-kubeconfig FILE --cluster ID [--namespaces a,b]")
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
				return err
			}
			for _, ns := range res.Granted {
				fmt.Fprintf(io.out, "granted   %s\n", ns)
			}
			for _, s := range res.Skipped {
				fmt.Fprintf(io.out, "skipped   %s: %s\n", s.Name, s.Reason)
			}
			if err := env.registry.Credentials().Save(rec.ID, res.Credential); err != nil {
				return err
			}
			fmt.Fprintf(io.out, "credential stored for %s (token expires %s; pushd renews it)\n", rec.ID, res.Expiry.Format(time.RFC3339))
			return check(ctx, env, rec, io)
		}
	default:
		return fmt.Errorf("unknown command %q: want add, list, show, check or bootstrap", "clusters "+cmd)
	}
	env, err := parseAdmin(ctx, fs, args, envs, getenv, &cfg)
	if err != nil {
		return err
	}
	defer env.store.Close()
	return run(ctx, env)
}

// parseAdmin parses an admin command's flags — the id may come before them
// (pushd clusters add ID --namespaces …), where the flag package would stop —
// applies the environment, and opens the store and credentials.
func parseAdmin(ctx context.Context, fs *flag.FlagSet, args []string, envs map[string]string, getenv func(string) string, cfg *config.Config) (*adminEnv, error) {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		args = append(args[1:len(args):len(args)], args[0])
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if err := applyEnv(fs, envs, getenv); err != nil {
		return nil, err
	}
	return openAdmin(ctx, *cfg)
}

func oneCluster(ctx context.Context, env *adminEnv, fs *flag.FlagSet) (*clusters.Record, error) {
	if fs.NArg() != 1 {
		return nil, errors.New("usage: pushd clusters " + strings.TrimPrefix(fs.Name(), "pushd clusters ") + " ID")
	}
	rec, err := env.registry.Get(ctx, "", fs.Arg(0))
	if err != nil {
		return nil, fmt.Errorf("cluster %q: %w", fs.Arg(0), err)
	}
	return rec, nil
}

// check probes a cluster now, prints what it found, and fails unless the
// cluster is ready with every right it needs.
func check(ctx context.Context, env *adminEnv, rec *clusters.Record, io streams) error {
	st, err := env.monitor.Check(ctx, rec)
	if err != nil {
		return err
	}
	c := st.Connectivity
	fmt.Fprintf(io.out, "%s: %s (%s)\n", rec.ID, c.State, c.Message)
	if st.Credential.Subject != "" {
		exp := "never"
		if st.Credential.Expiry != nil {
			exp = st.Credential.Expiry.Format(time.RFC3339)
		}
		fmt.Fprintf(io.out, "  credential  %s, expires %s\n", st.Credential.Subject, exp)
	}
	problems := 0
	for _, e := range st.Credential.ExcessRights {
		fmt.Fprintf(io.out, "  EXCESS      %s\n", e)
		problems++
	}
	for _, ns := range st.Namespaces {
		switch {
		case !ns.Exists:
			fmt.Fprintf(io.out, "  namespace   %s: does not exist (or cannot be read)\n", ns.Name)
			problems++
		case !ns.Labeled:
			fmt.Fprintf(io.out, "  namespace   %s: not labeled %s=%s\n", ns.Name, clusters.ManagedNamespaceLabel, clusters.ManagedNamespaceValue)
			problems++
		case !ns.RightsOK:
			fmt.Fprintf(io.out, "  namespace   %s: missing %d rights, e.g. %s\n", ns.Name, len(ns.MissingRights), ns.MissingRights[0])
			problems++
		default:
			fmt.Fprintf(io.out, "  namespace   %s: ok\n", ns.Name)
		}
		for _, e := range ns.ExcessRights {
			fmt.Fprintf(io.out, "  EXCESS      %s in %s\n", e, ns.Name)
			problems++
		}
	}
	if c.State != clusters.StateReady {
		return fmt.Errorf("cluster %s is %s", rec.ID, c.State)
	}
	if problems > 0 {
		return fmt.Errorf("cluster %s: %d problems", rec.ID, problems)
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func ago(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return time.Since(*t).Round(time.Second).String() + " ago"
}
