package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vworkspace/pushd/internal/blackbox"
	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/internal/pushdproc"
)

// TestSecondProcessOnSQLiteRefused starts pushd on a SQLite file, then a
// second pushd on the same file: the second exits at once, naming the file
// and the first process.
func TestSecondProcessOnSQLiteRefused(t *testing.T) {
	file := filepath.Join(t.TempDir(), "pushd.db")
	env := blackbox.Env(t, dbtest.Database{Driver: "sqlite", DSN: file}, nil)
	first := startDaemon(t, blackbox.Addr(t), env)
	defer first.Stop()

	out, err := pushdproc.Run(context.Background(), suite.Binary, env, "serve", "--listen", blackbox.Addr(t))
	if err == nil {
		t.Fatalf("a second pushd on %s started:\n%s", file, out)
	}
	want := fmt.Sprintf("pid %d", first.Pid())
	if !strings.Contains(string(out), file) || !strings.Contains(string(out), want) {
		t.Fatalf("second pushd's error does not name the file and %q:\n%s", want, out)
	}
	t.Logf("second pushd refused: %s", strings.TrimSpace(string(out)))
}
