package app

import (
	"context"
	"flag"
)

// clustersCheck is `pushd clusters check ID`: it probes the cluster now and
// fails unless it is ready with every right.
type clustersCheck struct {
	admin
}

func (c *clustersCheck) flags(fs *flag.FlagSet) map[string]string { return c.bindState(fs, 0) }

func (c *clustersCheck) run(ctx context.Context, x *call) error {
	id, err := x.one("cluster id")
	if err != nil {
		return err
	}
	env, err := c.open(ctx, x)
	if err != nil {
		return err
	}
	defer env.close()
	return check(ctx, env, "", id, x.io)
}
