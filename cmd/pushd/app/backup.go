package app

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/vworkspace/pushd/pkg/config"
)

// backupCmd writes an online copy of the SQLite database, for images that
// have no sqlite3 tool (the distroless one has none). PostgreSQL is backed
// up with pg_dump.
func backupCmd(ctx context.Context, args []string, getenv func(string) string, io streams) error {
	cfg := config.Default()
	fs := flag.NewFlagSet("pushd backup", flag.ContinueOnError)
	envs := bindSettings(fs, scopeState, &cfg, nil)
	env, err := parseAdmin(ctx, fs, "pushd backup FILE [flags]", args, envs, getenv, &cfg, io)
	if err != nil {
		return err
	}
	defer env.store.Close()
	if fs.NArg() != 1 {
		return hint(errors.New("backup: one file name is required"), "usage: pushd backup FILE (FILE must not exist)")
	}
	if err := env.store.Backup(ctx, fs.Arg(0)); err != nil {
		return err
	}
	fmt.Fprintf(io.out, "backup written to %s\n", fs.Arg(0))
	return nil
}
