package app

import (
	"context"
	"flag"
	"fmt"
)

// backupCmd is `pushd backup FILE`: an online copy of the SQLite database,
// for images that have no sqlite3 tool (the distroless one has none).
// PostgreSQL is backed up with pg_dump.
type backupCmd struct {
	admin
}

func (c *backupCmd) flags(fs *flag.FlagSet) map[string]string { return c.bindState(fs, 0) }

func (c *backupCmd) do(ctx context.Context, x *call, env *adminEnv) error {
	file := x.arg
	if err := env.store.Backup(ctx, file); err != nil {
		return err
	}
	fmt.Fprintf(x.io.out, "backup written to %s\n", file)
	return nil
}
