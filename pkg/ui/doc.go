// Package ui is pushd's web UI: server-rendered pages of the organization's fleet (templates,
// CSS and one small script in web/), and a few actions: run a drift check,
// cancel a job or a request, re-send a parked callback.
//
// Live pages: a page whose content changes (the fleet, a cluster, a job, a
// request, an application) marks its changing sections with data-live and
// an id. /ui/static/live.js, the only script, fetches the same page every
// few seconds and swaps the sections whose HTML changed: no full reload, no
// flicker, and the CSP stays strict (script-src 'self', no inline script,
// no eval). A section that is done changing is rendered without data-live
// (a final job's page): the refresh that brings it is the last one. A
// running job's objects and their kstatus, its waiting and retries, are
// persisted as they change, so its page shows them within a refresh.
// Without JavaScript the pages work; they just do not refresh.
//
// Authentication: the login form takes one of the API read tokens
// (--api-tokens) and answers with a cookie holding a random session id that
// maps to the token's organization (session.go): in the database, which
// every replica asks on each request that changes state and, for pages,
// once its memory of the session is a few seconds old, so a logout on one
// replica ends the session on all. The token itself is never stored in the
// cookie or anywhere else. Every page then
// reads with that organization, through the same registry and job service
// as the API, so another organization's cluster or job is a 404 here too.
//
// CSRF: every POST but the login carries the session's anti-forgery token
// (a hidden form field, compared in constant time; csrf.go); the cookie
// is SameSite=Strict; and a POST a browser marks as cross-site
// (Sec-Fetch-Site) is refused. GETs change nothing. Every action is logged
// with the organization, the action and its subject.
//
// It talks to the rest of pushd through interfaces (Deps), the same
// implementations the API is given, and is mounted by the composition root
// (cmd/pushd/app) inside the API server (api.Server.Mount), which gives it
// its error mapper, its failure limit and its audit log.
package ui
