package api_test

import (
	"bytes"
	"context"
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

// The contract checker: every answer the API tests receive is validated
// against api/openapi.yaml — its status must be documented for the
// operation, its headers and its body must match the schemas.

var contract struct {
	once   sync.Once
	router routers.Router
	err    error
}

func contractRouter(t *testing.T) routers.Router {
	t.Helper()
	contract.once.Do(func() {
		doc, err := openapi3.NewLoader().LoadFromData(openapi.OpenAPI)
		if err != nil {
			contract.err = err
			return
		}
		doc.Servers = nil // match any host: tests listen on random ports
		contract.router, contract.err = legacy.NewRouter(doc)
	})
	if contract.err != nil {
		t.Fatalf("api/openapi.yaml: %v", contract.err)
	}
	return contract.router
}

// checkContract validates one answer against the document. Requests outside
// it (the web UI) are not checked.
func checkContract(t *testing.T, req *http.Request, status int, header http.Header, body []byte) {
	t.Helper()
	path := req.URL.Path
	if !strings.HasPrefix(path, "/api/v1/") && path != "/healthz" && path != "/readyz" && path != "/metrics" {
		return
	}
	route, params, err := contractRouter(t).FindRoute(req)
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
