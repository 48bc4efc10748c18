package observe

import (
	"errors"
	"time"

	"github.com/vworkspace/pushd/pkg/store"
)

// DriftState is what a drift check found of an application (DriftState in
// api/openapi.yaml).
type DriftState string

// Drift states.
const (
	DriftInSync  DriftState = "in_sync"
	DriftDrifted DriftState = "drifted"
	// DriftUnknown: not checked yet, the cluster could not be reached, a
	// job of the application is in progress, or there is no apply intent
	// to compare with. DriftReason says which.
	DriftUnknown DriftState = "unknown"
)

// Why an application's drift is unknown (DriftReason.Code).
const (
	// DriftReasonJobInProgress: a job of the application (other than a
	// drift correction) is queued or running; it brings a newer intent, so
	// nothing is measured against the one it replaces. Checked again once
	// the job ends.
	DriftReasonJobInProgress = "job_in_progress"
	// DriftReasonNoIntent: no apply is the application's latest intent
	// (none passed its preflight, or the latest is a delete).
	DriftReasonNoIntent = "no_intent"
	// DriftReasonNotChecked: no drift check has run since the application
	// was first seen or its inventory changed.
	DriftReasonNotChecked = "not_checked"
	// DriftReasonUnreachable: the cluster, or the application's namespace,
	// could not be read.
	DriftReasonUnreachable = "unreachable"
	// DriftReasonIncomplete: an object could not be checked (the last
	// check's log says why).
	DriftReasonIncomplete = "check_incomplete"
)

// DriftReason says why an application's drift is unknown.
type DriftReason struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Job is the job in progress (job_in_progress); empty otherwise.
	Job string `json:"job,omitempty"`
}

// Event types the watcher records in the outbox.
const (
	EventHealthChanged = "application.health_changed"
	EventDriftDetected = "drift.detected"
	EventDriftResolved = "drift.resolved"
)

// ErrNotFound: the cluster holds no inventory of that (namespace, application).
var ErrNotFound = errors.New("application not found")

// Application is one inventory as GET /api/v1/clusters/{id}/applications
// lists it (ApplicationSummary).
type Application struct {
	Namespace   string `json:"namespace"`
	Application string `json:"application"`
	// Health is the worst kstatus of the objects: Failed > NotFound >
	// Unknown > Terminating > InProgress > Current (Current when empty).
	Health string `json:"health"`
	// Drift is DriftInSync, DriftDrifted or DriftUnknown.
	Drift DriftState `json:"drift"`
	// DriftReason says why Drift is unknown; nil otherwise.
	DriftReason *DriftReason `json:"drift_reason"`
	// Objects is how many objects the inventory holds.
	Objects int `json:"objects"`
	// LastJob is the newest job of the application, whatever its status.
	LastJob *LastJob `json:"last_job"`
	// ReferenceJob is the application's latest intent — the newest job
	// that passed its preflight — which drift is measured against; nil
	// when there is none.
	ReferenceJob *LastJob `json:"reference_job"`
	// CheckedAt is the last status poll or drift check that reached the cluster.
	CheckedAt *time.Time `json:"checked_at"`
}

// ApplicationDetail is one inventory with its objects (Application in
// api/openapi.yaml).
type ApplicationDetail struct {
	Namespace    string       `json:"namespace"`
	Application  string       `json:"application"`
	Health       string       `json:"health"`
	Drift        DriftState   `json:"drift"`
	DriftReason  *DriftReason `json:"drift_reason"`
	Objects      []Object     `json:"objects"`
	LastJob      *LastJob     `json:"last_job"`
	ReferenceJob *LastJob     `json:"reference_job"`
	CheckedAt    *time.Time   `json:"checked_at"`
}

// LastJob is the newest job of an application.
type LastJob struct {
	ID         string          `json:"id"`
	Action     string          `json:"action"`
	Status     store.JobStatus `json:"status"`
	Trigger    string          `json:"trigger"`
	FinishedAt *time.Time      `json:"finished_at"`
	// Error is why the job failed; nil unless its status is failed.
	Error *LastJobError `json:"error"`
}

// LastJobError is a failed job's reason.
type LastJobError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Object is one object of an inventory (ApplicationObject).
type Object struct {
	Group     string `json:"group"`
	Version   string `json:"version"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Status is the object's kstatus, Message says why.
	Status  string `json:"status"`
	Message string `json:"message"`
	// Drifted is true when the last drift check found the object missing
	// or a field pushd applied changed.
	Drifted bool `json:"drifted"`
	// Missing is true when the object pushd applied is gone (then Drifted
	// is true too, and DriftedFields empty).
	Missing       bool           `json:"missing"`
	DriftedFields []DriftedField `json:"drifted_fields"`
}

// DriftedField is a field pushd applied that now has another value.
type DriftedField struct {
	// Path is in structured-merge-diff notation: .spec.replicas,
	// .spec.containers[name="app"].image.
	Path string `json:"path"`
	// Manager is the field manager that owns the field now (from
	// metadata.managedFields) — pushd's own when it wrote the live value
	// since; nil only when nobody does (the field was removed).
	Manager   *string    `json:"manager"`
	ChangedAt *time.Time `json:"changed_at"`
}
