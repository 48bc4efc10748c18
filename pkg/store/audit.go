package store

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
)

// The audit log: one row per state change asked of pushd — by Odoo through
// a signed webhook, by a person through the web UI or the CLI, or by pushd
// itself — and per refused attempt of a known organization, with who asked,
// what, when, on what and how it ended.
//
// It is append-only: the store has a verb to add an entry and verbs to read
// them, and none to change or remove one. Entries are kept for as long as
// the database is; nothing prunes them.

// AuditActorKind says through which door a change came.
type AuditActorKind string

const (
	// ActorWebhook: a signed write; ActorID is the fingerprint of the
	// organization's webhook secret that signed it.
	ActorWebhook AuditActorKind = "webhook"
	// ActorToken: a bearer token, which only reads today; a UI login names
	// the token it used in its subject.
	ActorToken AuditActorKind = "token"
	// ActorUI: a web UI session; ActorID is the fingerprint of its id.
	ActorUI AuditActorKind = "ui"
	// ActorCLI: a `pushd` subcommand; ActorID is the local user name.
	ActorCLI AuditActorKind = "cli"
	// ActorPushd: pushd on its own (a drift correction, a credential renewal).
	ActorPushd AuditActorKind = "pushd"
)

// AuditAction is what was asked.
type AuditAction string

const (
	AuditRecordWritten       AuditAction = "record.written"
	AuditRecordDeleted       AuditAction = "record.deleted"
	AuditCredentialReplaced  AuditAction = "credential.replaced"
	AuditCredentialBootstrap AuditAction = "credential.bootstrapped"
	AuditCredentialRenewed   AuditAction = "credential.renewed"
	AuditJobSubmitted        AuditAction = "job.submitted"
	AuditJobCancelled        AuditAction = "job.cancelled"
	AuditRequestCancelled    AuditAction = "request.cancelled"
	AuditDriftCheckRequested AuditAction = "drift_check.requested"
	AuditDriftCorrection     AuditAction = "drift.correction_requested"
	AuditCallbackResent      AuditAction = "callback.resent"
	AuditUILogin             AuditAction = "ui.login"
	AuditUILogout            AuditAction = "ui.logout"
)

// AuditActions lists every action, in the order the UI offers them.
var AuditActions = []AuditAction{
	AuditRecordWritten, AuditRecordDeleted, AuditCredentialReplaced, AuditCredentialBootstrap, AuditCredentialRenewed,
	AuditJobSubmitted, AuditJobCancelled, AuditRequestCancelled, AuditDriftCheckRequested, AuditDriftCorrection,
	AuditCallbackResent, AuditUILogin, AuditUILogout,
}

// AuditOK is the outcome of an action that was done.
const AuditOK = "ok"

// TruncatedMarker ends a field of an entry that was cut to its column.
const TruncatedMarker = "…"

const (
	auditDefaultPage = 100
	auditMaxPage     = 500
)

// AuditEntry is one line of the audit log.
type AuditEntry struct {
	// Seq orders the log: entries are listed in the order they were added.
	Seq          int64          `gorm:"primaryKey;autoIncrement"`
	At           time.Time      `gorm:"not null"`
	Organization string         `gorm:"size:128;not null"`
	ActorKind    AuditActorKind `gorm:"size:16;not null"`
	// ActorID names the actor without its secret: the first 8 hex digits
	// of the SHA-256 of a webhook secret or a UI session id, or a local
	// user name; empty for pushd itself.
	ActorID string      `gorm:"size:128;not null"`
	Action  AuditAction `gorm:"size:64;not null"`
	// Cluster and ClusterUID name the cluster and its record's generation
	// when the action has one (the generation is unknown when a record
	// did not exist).
	Cluster    string `gorm:"size:253;not null"`
	ClusterUID string `gorm:"size:64;not null"`
	// Subject is the job, request or event id the action was about; for a
	// UI login, "token:" and the fingerprint of the API token it used.
	Subject string `gorm:"size:255;not null"`
	// Outcome is "ok" or the error code of the refusal or failure, and
	// Status its HTTP status (0 for actions that are not a request).
	Outcome string `gorm:"size:64;not null"`
	Status  int    `gorm:"not null"`
}

// addAuditLog is migration 11.
func addAuditLog(tx *gorm.DB) error {
	if err := tx.Migrator().CreateTable(&AuditEntry{}); err != nil {
		return err
	}
	return tx.Exec("CREATE INDEX idx_audit_entries_org_seq ON audit_entries (organization, seq)").Error
}

// AppendAudit adds e to the log; its Seq is set, and At when zero.
func (s *Store) AppendAudit(ctx context.Context, e *AuditEntry) error {
	return appendAudit(s.db.WithContext(ctx), e)
}

// appendAudit adds e inside tx, for the verbs that write a change and its
// entry in one transaction.
func appendAudit(tx *gorm.DB, e *AuditEntry) error {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	e.At = e.At.UTC()
	fitAudit(e)
	if err := tx.Create(e).Error; err != nil {
		return fmt.Errorf("audit entry %s of organization %q: %w", e.Action, e.Organization, err)
	}
	return nil
}

// fitAudit makes e storable on both databases, so that no entry is lost to
// what it quotes: a refusal quotes the caller's input (a 300-character
// cluster id, a job id with a NUL), and PostgreSQL rejects a value longer
// than its column or text that is not valid UTF-8 — an entry that would
// have been lost, of exactly the requests worth auditing. Each field is cut
// to its column's size (in characters, as PostgreSQL counts them), the cut
// ending with TruncatedMarker; NUL and invalid bytes become U+FFFD. The
// sizes are those of AuditEntry's tags.
func fitAudit(e *AuditEntry) {
	for _, f := range []struct {
		v    *string
		size int
	}{
		{&e.Organization, 128}, {&e.ActorID, 128}, {&e.Cluster, 253}, {&e.ClusterUID, 64}, {&e.Subject, 255}, {&e.Outcome, 64},
	} {
		*f.v = fitColumn(*f.v, f.size)
	}
}

// fitColumn is v as valid UTF-8 without NUL, at most size characters.
func fitColumn(v string, size int) string {
	v = strings.ReplaceAll(strings.ToValidUTF8(v, "\uFFFD"), "\x00", "\uFFFD")
	if utf8.RuneCountInString(v) <= size {
		return v
	}
	keep := size - utf8.RuneCountInString(TruncatedMarker)
	for i := range v {
		if keep == 0 {
			return v[:i] + TruncatedMarker
		}
		keep--
	}
	return v
}

// AuditFilter selects entries of one organization. Zero fields select all.
type AuditFilter struct {
	Since, Until time.Time // At >= Since, At < Until
	Cluster      string
	Action       AuditAction
	// After is the Seq of the last entry already read (the page cursor).
	After int64
	// Limit bounds the answer: default 100, at most 500.
	Limit int
}

// AuditEntries returns org's entries matching f, oldest first.
func (s *Store) AuditEntries(ctx context.Context, org string, f AuditFilter) ([]AuditEntry, error) {
	if f.Limit <= 0 {
		f.Limit = auditDefaultPage
	}
	f.Limit = min(f.Limit, auditMaxPage)
	q := s.db.WithContext(ctx).Where("organization = ? AND seq > ?", org, f.After)
	if !f.Since.IsZero() {
		q = q.Where("at >= ?", f.Since.UTC())
	}
	if !f.Until.IsZero() {
		q = q.Where("at < ?", f.Until.UTC())
	}
	if f.Cluster != "" {
		q = q.Where("cluster = ?", f.Cluster)
	}
	if f.Action != "" {
		q = q.Where("action = ?", f.Action)
	}
	var out []AuditEntry
	if err := q.Order("seq").Limit(f.Limit).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("audit entries of organization %q: %w", org, err)
	}
	return out, nil
}
