package clusters

import (
	"encoding/json"

	"github.com/google/uuid"

	"github.com/vworkspace/pushd/pkg/store"
)

// Events Odoo needs to show a cluster's state, beside those of its
// connectivity, expiring credential and namespaces (pkg/health).
const (
	// EventRecordDeleted: the record was deleted; its jobs ended and its
	// data is no longer reachable through the id.
	EventRecordDeleted = "cluster.deleted"
	// EventCredentialChanged: the credential was replaced (a new kubeconfig)
	// or renewed (a fresh token).
	EventCredentialChanged = "credential.changed"
)

// Reasons of credential.changed.
const (
	CredentialReplaced = "replaced"
	CredentialRenewed  = "renewed"
)

// CredentialEvent is the credential.changed event of rec's credential
// replaced or renewed (reason) by cred.
func CredentialEvent(rec *Record, reason string, cred *Credential) *store.Event {
	data := map[string]any{"reason": reason, "subject": nil, "expiry": nil}
	if claims, ok := cred.Claims(); ok {
		data["subject"] = claims.Subject
		if !claims.Expiry.IsZero() {
			data["expiry"] = claims.Expiry.UTC()
		}
	}
	return NewEvent(EventCredentialChanged, rec, data)
}

// NewEvent is an event of typ about rec's cluster, carrying data and the
// cluster's id.
func NewEvent(typ string, rec *Record, data map[string]any) *store.Event {
	data["cluster_id"] = rec.ID
	b, _ := json.Marshal(data)
	return &store.Event{ID: "evt_" + uuid.NewString(), Type: typ, Organization: rec.Organization, Cluster: rec.ID, Data: string(b)}
}
