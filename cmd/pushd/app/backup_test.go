package app

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/vworkspace/pushd/pkg/store"
)

// TestBackupCommand backs up a database through the CLI and opens the copy.
func TestBackupCommand(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	env := map[string]string{"PUSHD_DATABASE_URL": "sqlite://" + filepath.Join(dir, "pushd.db"), "PUSHD_KUBECONFIG_DIR": filepath.Join(dir, "kubeconfigs")}
	var out, errw bytes.Buffer
	if code := Run(ctx, []string{"clusters", "add", "c1", "--namespaces", "ns", "--applications", "a"}, func(k string) string { return env[k] }, &out, &errw); code != 0 {
		t.Fatalf("clusters add: %d %s", code, errw.String())
	}
	dst := filepath.Join(dir, "backup", "pushd.db")
	if code := Run(ctx, []string{"backup", dst}, func(k string) string { return env[k] }, &out, &errw); code != 0 {
		t.Fatalf("backup: %d %s", code, errw.String())
	}
	st, err := store.Open(ctx, "sqlite", dst, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.GetCluster(ctx, "", "c1"); err != nil {
		t.Fatalf("the backup has no cluster c1: %v", err)
	}
	if code := Run(ctx, []string{"backup", dst}, func(k string) string { return env[k] }, &out, &errw); code == 0 {
		t.Error("a second backup to the same file succeeded")
	}
}
