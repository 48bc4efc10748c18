package store

import (
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// Unavailable tells whether err says the database could not be used at
// all — it refused or dropped the connection, or is starting up or
// shutting down (SQLSTATE classes 08 and 57P) — rather than that a
// statement failed: the caller may retry later (503). A ping after the
// fact can miss it (a server that just came back answers the ping).
func Unavailable(err error) bool {
	var connect *pgconn.ConnectError
	if errors.As(err, &connect) {
		return true
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return strings.HasPrefix(pg.Code, "08") || strings.HasPrefix(pg.Code, "57P")
	}
	return false
}
