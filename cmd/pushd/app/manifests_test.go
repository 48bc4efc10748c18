package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/pkg/store"
	"github.com/vworkspace/pushd/pkg/store/sealed"
)

// TestManifestsRekey rotates the manifest key through the CLI: a job
// stored plain before any key, and one sealed with the old key, are both
// sealed with the new key by `pushd manifests rekey`, after which the old
// key can be dropped; without any key, rekey refuses with a hint.
func TestManifestsRekey(t *testing.T) {
	dbtest.EachContext(t, func(t *testing.T, ctx context.Context, db dbtest.Database) {
		newKey := func(id string) string {
			b := make([]byte, sealed.KeySize)
			rand.Read(b)
			return id + "=" + base64.StdEncoding.EncodeToString(b)
		}
		oldKey, curKey := newKey("old"), newKey("cur")
		url := "sqlite://" + filepath.Join(t.TempDir(), "pushd.db")
		if db.Driver == "postgres" {
			url = db.DSN
		}
		run := func(keys string, args ...string) (int, string) {
			environ := map[string]string{"PUSHD_DATABASE_URL": url, "PUSHD_KUBECONFIG_DIR": t.TempDir(), "PUSHD_MANIFEST_KEYS": keys}
			var out, errb bytes.Buffer
			code := Run(ctx, args, func(k string) string { return environ[k] }, &out, &errb)
			return code, out.String() + errb.String()
		}
		seed := func(keys, id string) {
			t.Helper()
			parsed, _ := sealed.ParseKeys(keys)
			k, _ := sealed.New(parsed)
			d := strings.TrimPrefix(url, "sqlite://")
			drv := "sqlite"
			if db.Driver == "postgres" {
				drv, d = "postgres", db.DSN
			}
			st, err := store.Open(ctx, drv, d, store.Options{ManifestKeys: k})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			j := &store.Job{Organization: "default", ID: id, Cluster: "c-1", Namespace: "ns", Application: "app", Action: "apply",
				Manifests: `[{"kind":"Secret","stringData":{"k":"v"}}]`, Status: store.JobQueued}
			if _, err := st.CreateJob(ctx, j); err != nil {
				t.Fatal(err)
			}
		}
		if code, out := run("", "manifests", "rekey"); code == 0 || !strings.Contains(out, "--manifest-keys") {
			t.Fatalf("rekey without a key: %d %s", code, out)
		}
		seed("", "plain-1")
		seed(oldKey, "old-1")
		if code, out := run(curKey, "jobs", "list"); code == 0 || !strings.Contains(out, `"old"`) {
			t.Fatalf("listing without the old key: %d %s", code, out)
		}
		code, out := run(curKey+" "+oldKey, "manifests", "rekey")
		if code != 0 || !strings.Contains(out, "2 manifests sealed again with key \"cur\"") {
			t.Fatalf("rekey: %d %s", code, out)
		}
		if code, out := run(curKey, "jobs", "list"); code != 0 || !strings.Contains(out, "old-1") || !strings.Contains(out, "plain-1") {
			t.Fatalf("listing with the new key only: %d %s", code, out)
		}
	})
}
