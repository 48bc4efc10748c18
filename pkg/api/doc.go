// Package api is pushd's HTTP surface: the v1 contract with Odoo (signed
// writes, token-authenticated reads), the operations endpoints (/healthz,
// /readyz, /metrics) and the web UI. Handlers return errors; one error handler
// (errors.go) chooses the status and the public message, so no handler can
// leak a credential in an error text.
package api
