// Package api holds the OpenAPI 3.1 document of pushd's v1 HTTP contract
// (the contract between pushd and Odoo), embedded so the
// server can serve it and tests can check handlers against it.
//
// The document covers the signed write endpoints and bearer-token read
// endpoints under /api/v1, the shared error body and responses, the callbacks
// pushd sends (under "webhooks" and the Event schema), and the unauthenticated
// operations endpoints /healthz, /readyz and /metrics.
package api

import _ "embed"

// OpenAPI is the OpenAPI 3.1 document (YAML) of the v1 contract.
//
//go:embed openapi.yaml
var OpenAPI []byte
