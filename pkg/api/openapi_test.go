package api_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
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
	t.Parallel()
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

// The server serves its contract, and sends a visitor of / to the UI.
func TestContractAndRootAreServed(t *testing.T) {
	t.Parallel()
	ts := httptest.NewServer(api.New(api.Deps{}, api.Options{}))
	t.Cleanup(ts.Close)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(ts.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/" {
		t.Errorf("GET /: %d %v", resp.StatusCode, resp.Header)
	}
	resp, err = http.Get(ts.URL + "/api/v1/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(b, openapi.OpenAPI) {
		t.Errorf("openapi.yaml: %d %.80s", resp.StatusCode, b)
	}
}
