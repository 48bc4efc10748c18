package deploy

import (
	"bytes"
	"context"
	"regexp"
	"testing"

	"github.com/vworkspace/pushd/cmd/pushd/app"
)

// knownVariables are the environment variables `pushd serve` reads, from its
// own -h text, so a misspelt variable in a deploy file fails here instead of
// being ignored by pushd at run time.
func knownVariables(t *testing.T) map[string]bool {
	t.Helper()
	var out, errw bytes.Buffer
	app.Run(context.Background(), []string{"serve", "-h"}, func(string) string { return "" }, &out, &errw)
	known := map[string]bool{}
	for _, m := range regexp.MustCompile(`\[(PUSHD_[A-Z_]+)\]`).FindAllStringSubmatch(errw.String()+out.String(), -1) {
		known[m[1]] = true
	}
	if len(known) < 10 {
		t.Fatalf("pushd serve -h lists %d variables:\n%s", len(known), errw.String())
	}
	return known
}
