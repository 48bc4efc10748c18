// Package store is pushd's durable state: a gorm database that is SQLite by
// default (pure Go, so the binary stays static) and PostgreSQL for production
// and for running several replicas. It owns the schema and its migrations and
// sits at the bottom of the import graph: it imports no other pushd package.
package store
