package app

import (
	"context"
	"flag"
	"fmt"
)

// clustersShow is `pushd clusters show ID`: a record and what pushd
// observes, as JSON.
type clustersShow struct {
	admin
}

func (c *clustersShow) flags(fs *flag.FlagSet) map[string]string { return c.bindState(fs, 0) }

func (c *clustersShow) do(ctx context.Context, x *call, env *adminEnv) error {
	id := x.arg
	rec, err := env.registry.Get(ctx, "", id)
	if err != nil {
		return fmt.Errorf("cluster %q: %w", id, err)
	}
	st, err := env.monitor.Observed(ctx, rec.ID)
	if err != nil {
		return err
	}
	return printJSON(x.io.out, map[string]any{"record": rec, "observed": st})
}
