package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"sigs.k8s.io/yaml"

	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/config"
	"github.com/vworkspace/pushd/pkg/jobs"
	"github.com/vworkspace/pushd/pkg/store"
)

// jobsCmd is `pushd jobs submit|get|list`: the same queue Odoo feeds, from a
// terminal. Jobs submitted here are checked by the same rules and run by the
// pushd serve that shares the database.
func jobsCmd(ctx context.Context, args []string, getenv func(string) string, io streams) error {
	if len(args) == 0 || isHelp(args[0]) {
		fmt.Fprint(io.out, jobsUsage)
		if len(args) == 0 {
			return hint(errors.New("jobs: a command is required"), "run 'pushd jobs --help' for the commands")
		}
		return flag.ErrHelp
	}
	cmd, args := args[0], args[1:]
	cfg := config.Default()
	fs := flag.NewFlagSet("pushd jobs "+cmd, flag.ContinueOnError)
	envs := bindSettings(fs, scopeState, &cfg, nil)
	org := fs.String("organization", config.DefaultOrganization, "the organization the job belongs to")
	var run func(ctx context.Context, env *adminEnv, svc *jobs.Service) error
	var synopsis string
	switch cmd {
	case "submit":
		synopsis = "pushd jobs submit FILE [flags]   (YAML or JSON, as POST /api/v1/jobs takes it; - reads standard input)"
		for k, v := range bindSettings(fs, scopeSubmit, &cfg, nil) {
			envs[k] = v
		}
		run = func(ctx context.Context, env *adminEnv, svc *jobs.Service) error {
			if fs.NArg() != 1 {
				return hint(errors.New("jobs submit: one job file is required"), "usage: "+synopsis)
			}
			path := fs.Arg(0)
			if path == "-" {
				path = "/dev/stdin"
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			spec, err := decodeJobFile(data)
			if err != nil {
				return fmt.Errorf("%s: not a job: %w", fs.Arg(0), err)
			}
			row, created, err := svc.Submit(ctx, *org, spec)
			env.audit(ctx, *org, store.AuditJobSubmitted, spec.Cluster, spec.ID, err)
			if err != nil {
				var re *jobs.RuleError
				switch {
				case errors.As(err, &re):
					return refusal(spec.ID, re)
				case errors.Is(err, clusters.ErrNotFound):
					return hint(fmt.Errorf("job %q: cluster %q: %w", spec.ID, spec.Cluster, err), "run 'pushd clusters list' for the registered clusters")
				}
				return fmt.Errorf("job %q: %w", spec.ID, err)
			}
			if created {
				fmt.Fprintf(io.out, "job %s queued on %s (pushd serve runs it)\n", row.ID, row.Cluster)
			} else {
				fmt.Fprintf(io.out, "job %s exists (%s)\n", row.ID, row.Status)
			}
			return nil
		}
	case "get":
		synopsis = "pushd jobs get ID [flags]"
		run = func(ctx context.Context, env *adminEnv, svc *jobs.Service) error {
			if fs.NArg() != 1 {
				return hint(errors.New("jobs get: one job id is required"), "usage: "+synopsis)
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
		synopsis = "pushd jobs list [flags]"
		var o jobs.ListOptions
		fs.StringVar(&o.Cluster, "cluster", "", "only this cluster's jobs")
		fs.Func("status", "only jobs in this status", func(v string) error { o.Status = store.JobStatus(v); return nil })
		fs.StringVar(&o.RequestID, "request-id", "", "only the jobs of this request")
		fs.IntVar(&o.Limit, "limit", 50, "at most this many, newest first")
		run = func(ctx context.Context, env *adminEnv, svc *jobs.Service) error {
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
		return hint(fmt.Errorf("unknown command %q", "jobs "+cmd), "run 'pushd jobs --help' for the commands")
	}
	env, err := parseAdmin(ctx, fs, synopsis, args, envs, getenv, &cfg, io)
	if err != nil {
		return err
	}
	defer env.store.Close()
	return run(ctx, env, jobs.NewService(env.store, env.registry, env.monitor, jobs.ServiceOptions{
		AllowedKinds: groupKinds(cfg.AllowedKinds), Trigger: TriggerCLI,
	}))
}

// TriggerCLI marks the jobs submitted with `pushd jobs submit`.
const TriggerCLI = "cli"

const jobsUsage = `Usage:
  pushd jobs submit FILE   queue a job (YAML or JSON, as POST /api/v1/jobs takes it; - reads standard input)
  pushd jobs get ID        a job with its per-object results, as JSON
  pushd jobs list          recent jobs (--cluster, --status, --request-id)

Run 'pushd jobs CMD --help' for a command's flags.
`

// decodeJobFile reads a job written as JSON or YAML; unknown fields are
// refused either way, so a typo'd field is named rather than ignored.
func decodeJobFile(data []byte) (jobs.Spec, error) {
	var spec jobs.Spec
	js, err := yaml.YAMLToJSON(data) // JSON is YAML: a JSON file comes back as it was
	if err != nil {
		return spec, err
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	err = dec.Decode(&spec)
	return spec, err
}

// refusal names every refused object of a job, one line each after the
// first refusal's message.
func refusal(id string, re *jobs.RuleError) error {
	var b strings.Builder
	fmt.Fprintf(&b, "job %q: refused (%s): %s", id, re.Code, re.Message)
	if all := re.All(); len(all) > 1 {
		for _, r := range all {
			fmt.Fprintf(&b, "\n  %s: %s", r.Field, r.Code)
			if r.Kind != "" {
				fmt.Fprintf(&b, " (%s %s)", r.Kind, r.Name)
			}
		}
		if re.Omitted > 0 {
			fmt.Fprintf(&b, "\n  … and %d more", re.Omitted)
		}
	}
	return errors.New(b.String())
}
