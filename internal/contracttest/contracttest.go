// Package contracttest checks HTTP answers against api/openapi.yaml in
// tests: the status must be documented for the operation, and the headers
// and body must match its schemas (kin-openapi). Requests outside the
// document (the web UI) are not checked.
package contracttest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	openapi "github.com/vworkspace/pushd/api"
)

var contract struct {
	once   sync.Once
	doc    *openapi3.T
	router routers.Router
	err    error
}

func router(t testing.TB) routers.Router {
	t.Helper()
	contract.once.Do(func() {
		doc, err := openapi3.NewLoader().LoadFromData(openapi.OpenAPI)
		if err != nil {
			contract.err = err
			return
		}
		doc.Servers = nil // match any host: tests listen on random ports
		contract.doc = doc
		contract.router, contract.err = legacy.NewRouter(doc)
	})
	if contract.err != nil {
		t.Fatalf("api/openapi.yaml: %v", contract.err)
	}
	return contract.router
}

// Check validates one answer against the document.
func Check(t testing.TB, req *http.Request, status int, header http.Header, body []byte) {
	t.Helper()
	path := req.URL.Path
	if !strings.HasPrefix(path, "/api/v1/") && path != "/healthz" && path != "/readyz" && path != "/metrics" {
		return
	}
	route, params, err := router(t).FindRoute(req)
	if err != nil {
		if status == http.StatusNotFound || status == http.StatusMethodNotAllowed {
			return // a path or method the document does not have, answered as such
		}
		t.Errorf("contract: %s %s answered %d but is not in api/openapi.yaml: %v", req.Method, path, status, err)
		return
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 status,
		Header:                 header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		t.Errorf("contract: %s %s → %d disagrees with api/openapi.yaml:\n%v\nbody: %.500s", req.Method, path, status, err, body)
	}
}

// CheckEvent validates a callback body against the document's Event schema.
// It may be called from any goroutine (t.Errorf is safe there).
func CheckEvent(t testing.TB, body []byte) {
	t.Helper()
	CheckSchema(t, "Event", body)
}

// CheckSchema validates one JSON value against the document's schema of
// that name: a callback, or one line of a JSON lines answer, which the
// document can only describe per line. It may be called from any goroutine.
func CheckSchema(t testing.TB, name string, body []byte) {
	t.Helper()
	router(t) // loads the document
	schema := contract.doc.Components.Schemas[name]
	if schema == nil {
		t.Errorf("api/openapi.yaml has no %s schema", name)
		return
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Errorf("contract: %s is not JSON: %v", name, err)
		return
	}
	if err := schema.Value.VisitJSON(v, openapi3.MultiErrors()); err != nil {
		t.Errorf("contract: %s disagrees with its schema in api/openapi.yaml:\n%v\nbody: %.500s", name, err, body)
	}
}
