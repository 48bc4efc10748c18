package app

import (
	"context"
	"flag"
)

// helpCmd is `pushd help [CMD]`: the commands, or, for `pushd help CMD
// [SUB]`, what `pushd CMD [SUB] --help` prints.
type helpCmd struct{}

func (*helpCmd) flags(*flag.FlagSet) map[string]string { return nil }

func (*helpCmd) run(ctx context.Context, c *call) error {
	if len(c.args) > 0 {
		return dispatch(ctx, "", commands, append(c.args, "--help"), c.getenv, c.io)
	}
	usage(c.io.out, "", commands)
	return nil
}
