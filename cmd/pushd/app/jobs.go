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

	"github.com/vworkspace/pushd/pkg/config"
	"github.com/vworkspace/pushd/pkg/jobs"
	"github.com/vworkspace/pushd/pkg/store"
)

// jobsCmd is `pushd jobs submit|get|list`: the same queue Odoo feeds, from a
// terminal. Jobs submitted here are checked by the same rules and run by the
// pushd serve that shares the database.
func jobsCmd(ctx context.Context, args []string, getenv func(string) string, io streams) error {
	if len(args) == 0 {
		return errors.New("usage: pushd jobs submit FILE|- | get ID | list [--cluster C] [--status S] [--request-id R]")
	}
	cmd, args := args[0], args[1:]
	cfg := config.Default()
	fs := flag.NewFlagSet("pushd jobs "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.err)
	envs := stateFlags(fs, &cfg)
	org := fs.String("organization", config.DefaultOrganization, "the organization the job belongs to")
	bindAllowedKinds(fs, &cfg, envs)
	var run func(ctx context.Context, svc *jobs.Service) error
	switch cmd {
	case "submit":
		run = func(ctx context.Context, svc *jobs.Service) error {
			if fs.NArg() != 1 {
				return errors.New("usage: pushd jobs submit FILE (a job as POST /api/v1/jobs takes it; - reads standard input)")
			}
			path := fs.Arg(0)
			if path == "-" {
				path = "/dev/stdin"
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			var spec jobs.Spec
			dec := json.NewDecoder(strings.NewReader(string(data)))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&spec); err != nil {
				return fmt.Errorf("%s: not a job: %w", fs.Arg(0), err)
			}
			row, created, err := svc.Submit(ctx, *org, spec)
			if err != nil {
				var re *jobs.RuleError
				if errors.As(err, &re) {
					return fmt.Errorf("refused (%s): %s", re.Code, re.Message)
				}
				return err
			}
			if created {
				fmt.Fprintf(io.out, "job %s queued on %s (pushd serve runs it)\n", row.ID, row.Cluster)
			} else {
				fmt.Fprintf(io.out, "job %s exists (%s)\n", row.ID, row.Status)
			}
			return nil
		}
	case "get":
		run = func(ctx context.Context, svc *jobs.Service) error {
			if fs.NArg() != 1 {
				return errors.New("usage: pushd jobs get ID")
			}
			j, err := svc.Get(ctx, *org, fs.Arg(0))
			if err != nil {
				return fmt.Errorf("job %q: %w", fs.Arg(0), err)
			}
			enc := json.NewEncoder(io.out)
			enc.SetIndent("", "  ")
			return enc.Encode(j)
		}
	case "list":
		var o jobs.ListOptions
		fs.StringVar(&o.Cluster, "cluster", "", "only this cluster's jobs")
		fs.Func("status", "only jobs in this status", func(v string) error { o.Status = store.JobStatus(v); return nil })
		fs.StringVar(&o.RequestID, "request-id", "", "only the jobs of this request")
		fs.IntVar(&o.Limit, "limit", 50, "at most this many, newest first")
		run = func(ctx context.Context, svc *jobs.Service) error {
			page, err := svc.List(ctx, *org, o)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(io.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tCLUSTER\tNAMESPACE/APPLICATION\tACTION\tSTATUS\tCREATED\tERROR")
			for _, j := range page.Items {
				msg := ""
				if j.Error != nil {
					msg = j.Error.Code + ": " + j.Error.Message
				}
				fmt.Fprintf(w, "%s\t%s\t%s/%s\t%s\t%s\t%s\t%s\n", j.ID, j.Cluster, j.Namespace, j.Application, j.Action, j.Status, j.CreatedAt.Format("2006-01-02 15:04:05"), msg)
			}
			return w.Flush()
		}
	default:
		return fmt.Errorf("unknown command %q: want submit, get or list", "jobs "+cmd)
	}
	env, err := parseAdmin(ctx, fs, args, envs, getenv, &cfg)
	if err != nil {
		return err
	}
	defer env.store.Close()
	return run(ctx, jobs.NewService(env.store, env.registry, env.monitor, jobs.ServiceOptions{AllowedKinds: groupKinds(cfg.AllowedKinds)}))
}
