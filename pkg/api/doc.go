// Package api is pushd's HTTP surface: the v1 contract with Odoo (signed
// writes, token-authenticated reads), the operations endpoints (/healthz,
// /readyz, /metrics), and the helpers every front-end shares with it: the
// caller, the audit log, the failed-authentication limit and the one error
// mapper. The web UI (pkg/ui) is mounted in its server (Server.Mount).
// Handlers return errors; one error handler (errors.go) chooses the status
// and the public message, so no handler can leak a credential in an error
// text.
package api
