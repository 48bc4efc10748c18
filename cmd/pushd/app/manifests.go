package app

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/vworkspace/pushd/pkg/config"
)

// manifestsUsage lists the manifests subcommands.
const manifestsUsage = `Usage:
  pushd manifests rekey   seal every stored manifest with the first --manifest-keys key

Run 'pushd manifests rekey --help' for its flags.
`

// manifestsCmd is `pushd manifests rekey`: the step of a key rotation
// between putting the new key first and dropping the old one. It is safe
// beside a running pushd serve (a row changed meanwhile is left to it, and
// a later run catches it) and can be run any number of times.
func manifestsCmd(ctx context.Context, args []string, getenv func(string) string, io streams) error {
	if len(args) == 0 || isHelp(args[0]) {
		fmt.Fprint(io.out, manifestsUsage)
		if len(args) == 0 {
			return hint(errors.New("manifests: a command is required"), "run 'pushd manifests --help' for the commands")
		}
		return flag.ErrHelp
	}
	if args[0] != "rekey" {
		return hint(fmt.Errorf("manifests: unknown command %q", args[0]), "run 'pushd manifests --help' for the commands")
	}
	cfg := config.Default()
	fs := flag.NewFlagSet("pushd manifests rekey", flag.ContinueOnError)
	envs := bindSettings(fs, scopeState, &cfg, nil)
	env, err := parseAdmin(ctx, fs, "pushd manifests rekey [flags]", args[1:], envs, getenv, &cfg, io)
	if err != nil {
		return err
	}
	defer env.store.Close()
	if cfg.ManifestKeys == "" && cfg.ManifestKeyFile == "" {
		return hint(errors.New("manifests rekey: no key configured"), "set --manifest-keys (or --manifest-key-file) with the new key first, then every older key")
	}
	res, err := env.store.RekeyManifests(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(io.out, "%d manifests sealed again with key %q\n", res.Resealed, res.Key)
	if res.Left > 0 {
		return hint(fmt.Errorf("manifests rekey: %d manifests were written meanwhile with another key", res.Left),
			"give every pushd the new key first, then run rekey again")
	}
	fmt.Fprintln(io.out, "every stored manifest is sealed with it: older keys can be removed")
	return nil
}
