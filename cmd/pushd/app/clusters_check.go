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

func (c *clustersCheck) do(ctx context.Context, x *call, env *adminEnv) error {
	id := x.arg
	return check(ctx, env, "", id, x.io)
}
