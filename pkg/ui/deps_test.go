package ui_test

import (
	"github.com/vworkspace/pushd/pkg/outbox"
	"github.com/vworkspace/pushd/pkg/store"
	"github.com/vworkspace/pushd/pkg/ui"
)

// The implementations pushd serve hands the UI that pkg/ui does not import.
var (
	_ ui.Callbacks = (*outbox.Deliverer)(nil)
	_ ui.Events    = (*store.Store)(nil)
	_ ui.AuditLog  = (*store.Store)(nil)
	_ ui.Sessions  = (*store.Store)(nil)
)
