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

	"sigs.k8s.io/yaml"

	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/jobs"
	"github.com/vworkspace/pushd/pkg/store"
)

// jobsSubmit is `pushd jobs submit FILE`: the same queue Odoo feeds, from
// a terminal. The job is checked by the same rules and run by the pushd
// serve that shares the database.
type jobsSubmit struct {
	admin
	org string
}

func (c *jobsSubmit) flags(fs *flag.FlagSet) map[string]string {
	organizationFlag(fs, &c.org, "job")
	return c.bindState(fs, scopeSubmit)
}

func (c *jobsSubmit) do(ctx context.Context, x *call, env *adminEnv) error {
	file := x.arg
	path := file
	if path == "-" {
		path = "/dev/stdin"
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	spec, err := decodeJobFile(data)
	if err != nil {
		return fmt.Errorf("%s: not a job: %w", file, err)
	}
	row, created, err := env.jobs.Submit(ctx, c.org, spec)
	env.audit(ctx, c.org, store.AuditJobSubmitted, spec.Cluster, spec.ID, err)
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
		fmt.Fprintf(x.io.out, "job %s queued on %s (pushd serve runs it)\n", row.ID, row.Cluster)
	} else {
		fmt.Fprintf(x.io.out, "job %s exists (%s)\n", row.ID, row.Status)
	}
	return nil
}

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
