package pushdclient_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestGeneratedCodeIsCurrent runs doc.go's go:generate command with its
// output in a temporary file and compares that with the committed
// pushdclient.gen.go, so the client cannot fall behind api/openapi.yaml or
// the configuration. It needs the Go module proxy (or a module cache holding
// oapi-codegen v2.8.2), as `go generate` does; the first run builds
// oapi-codegen (under a minute).
func TestGeneratedCodeIsCurrent(t *testing.T) {
	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	var args []string
	for line := range strings.Lines(string(src)) {
		if rest, ok := strings.CutPrefix(line, "//go:generate "); ok {
			args = strings.Fields(rest)
		}
	}
	out := filepath.Join(t.TempDir(), "pushdclient.gen.go")
	replaced := false
	for i := range args {
		if args[i] == "-o" && i+1 < len(args) {
			args[i+1], replaced = out, true
		}
	}
	if len(args) == 0 || args[0] != "go" || !replaced {
		t.Fatalf("doc.go's go:generate line is not `go run … -o FILE …`: %q", args)
	}
	cmd := exec.Command("go", args[1:]...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, b)
	}
	want, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("pushdclient.gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("pushdclient.gen.go is not what api/openapi.yaml and oapi-codegen.yaml generate: run `go generate ./examples/go/...` and commit the result")
	}
}
