package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
)

// manifestsRekey is `pushd manifests rekey`: the step of a key rotation
// between putting the new key first and dropping the old one. It is safe
// beside a running pushd serve (a row changed meanwhile is left to it, and
// a later run catches it) and can be run any number of times.
type manifestsRekey struct {
	admin
}

func (c *manifestsRekey) flags(fs *flag.FlagSet) map[string]string { return c.bindState(fs, 0) }

func (c *manifestsRekey) validate(*call) error {
	if c.cfg.ManifestKeys == "" && c.cfg.ManifestKeyFile == "" {
		return hint(errors.New("manifests rekey: no key configured"), "set --manifest-keys (or --manifest-key-file) with the new key first, then every older key")
	}
	return nil
}

func (c *manifestsRekey) do(ctx context.Context, x *call, env *adminEnv) error {
	res, err := env.store.RekeyManifests(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(x.io.out, "%d manifests sealed again with key %q\n", res.Resealed, res.Key)
	if res.Left > 0 {
		return hint(fmt.Errorf("manifests rekey: %d manifests were written meanwhile with another key", res.Left),
			"give every pushd the new key first, then run rekey again")
	}
	fmt.Fprintln(x.io.out, "every stored manifest is sealed with it: older keys can be removed")
	return nil
}
