package api_test

import (
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	openapi "github.com/vworkspace/pushd/api"
	"github.com/vworkspace/pushd/pkg/api"
	"github.com/vworkspace/pushd/pkg/observe"
	"github.com/vworkspace/pushd/pkg/outbox"
)

// TestServedRoutesAreDocumented keeps the server and api/openapi.yaml
// together: every route pushd serves under /api/v1 and every operations
// endpoint is in the document with its method.
func TestServedRoutesAreDocumented(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	if err := yaml.Unmarshal(openapi.OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	// Typed nils register the inventory and callback routes too; nothing is called.
	s := api.New(api.Deps{Inventory: (*observe.Watcher)(nil), Callbacks: (*outbox.Deliverer)(nil)}, api.Options{})
	n := 0
	for _, r := range s.Routes() {
		method, path, _ := strings.Cut(r, " ")
		if !strings.HasPrefix(path, "/api/v1/") && path != "/healthz" && path != "/readyz" && path != "/metrics" {
			continue
		}
		n++
		if _, ok := doc.Paths[path][strings.ToLower(method)]; !ok {
			t.Errorf("%s is served but not in api/openapi.yaml", r)
		}
	}
	if n < 10 {
		t.Fatalf("only %d routes checked: %v", n, s.Routes())
	}
}
