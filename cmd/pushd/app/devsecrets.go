package app

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/vworkspace/pushd/pkg/config"
)

// devSecretsFile is where --dev keeps its throw-away secrets, in the data
// directory: UI sessions and a local Odoo's configuration then survive a
// restart of pushd.
const devSecretsFile = "dev-secrets"

// devDir is the data directory: the SQLite database's folder, or the
// kubeconfig folder when the database is PostgreSQL.
func devDir(cfg *config.Config) string {
	if db, err := config.ParseDatabaseURL(cfg.DatabaseURL); err == nil && db.Driver == "sqlite" {
		return filepath.Dir(db.DSN)
	}
	return cfg.KubeconfigDir
}

// devSecrets fills unset secrets with throw-away ones, kept in the data
// directory (mode 0600) and reused on the next start, and prints them; never
// for production.
func devSecrets(cfg *config.Config, io streams) error {
	path := filepath.Join(devDir(cfg), devSecretsFile)
	kept, err := readDevSecrets(path)
	if err != nil {
		return fmt.Errorf("--dev: %s: %w", path, err)
	}
	changed := false
	if len(cfg.WebhookSecrets) == 0 {
		if kept["webhook-secret"] == "" {
			key := make([]byte, 32)
			rand.Read(key)
			kept["webhook-secret"], changed = "whsec_"+base64.StdEncoding.EncodeToString(key), true
		}
		cfg.WebhookSecrets = []config.Credential{{Organization: config.DefaultOrganization, Value: kept["webhook-secret"]}}
		fmt.Fprintf(io.out, "dev: webhook secret (organization %q): %s\n", config.DefaultOrganization, kept["webhook-secret"])
	}
	if len(cfg.APITokens) == 0 {
		if kept["api-token"] == "" {
			tok := make([]byte, 24)
			rand.Read(tok)
			kept["api-token"], changed = hex.EncodeToString(tok), true
		}
		cfg.APITokens = []config.Credential{{Organization: config.DefaultOrganization, Value: kept["api-token"]}}
		fmt.Fprintf(io.out, "dev: API token (organization %q): %s\n", config.DefaultOrganization, kept["api-token"])
	}
	if changed {
		if err := writeDevSecrets(path, kept); err != nil {
			return fmt.Errorf("--dev: %s: %w", path, err)
		}
	}
	fmt.Fprintf(io.out, "dev: these secrets are throw-away, kept in %s across restarts; set --webhook-secrets and --api-tokens for real use\n", path)
	return nil
}

// readDevSecrets reads key=value lines; a missing file is no secrets yet.
func readDevSecrets(path string) (map[string]string, error) {
	out := map[string]string{}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "="); ok {
			out[k] = v
		}
	}
	return out, sc.Err()
}

// writeDevSecrets writes the file atomically, readable by its owner only.
func writeDevSecrets(path string, kept map[string]string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	var b strings.Builder
	for _, k := range []string{"webhook-secret", "api-token"} {
		if kept[k] != "" {
			fmt.Fprintf(&b, "%s=%s\n", k, kept[k])
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+devSecretsFile+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(b.String()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
