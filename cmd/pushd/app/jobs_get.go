package app

import (
	"context"
	"flag"
	"fmt"
)

// jobsGet is `pushd jobs get ID`: a job with its per-object results, as
// JSON.
type jobsGet struct {
	admin
	org string
}

func (c *jobsGet) flags(fs *flag.FlagSet) map[string]string {
	organizationFlag(fs, &c.org, "job")
	return c.bindState(fs, 0)
}

func (c *jobsGet) do(ctx context.Context, x *call, env *adminEnv) error {
	id := x.arg
	j, err := env.jobs.Get(ctx, c.org, id)
	if err != nil {
		return fmt.Errorf("job %q: %w", id, err)
	}
	return printJSON(x.io.out, j)
}
