package jobs

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/vworkspace/pushd/pkg/apply"
	"github.com/vworkspace/pushd/pkg/store"
)

// Actions a job may ask for (and ActionOperate, operate.go).
const (
	ActionApply  = "apply"
	ActionDelete = "delete"
)

// EventStatusChanged is recorded on every status change of a job.
const EventStatusChanged = "job.status_changed"

// Operation is the (engine, type) a job belongs to.
type Operation struct {
	Engine string `json:"engine"`
	Type   string `json:"type"`
}

// Spec is a job as Odoo submits it.
type Spec struct {
	ID             string            `json:"id"`
	Cluster        string            `json:"cluster"`
	RequestID      string            `json:"request_id,omitempty"`
	Operation      Operation         `json:"operation"`
	Application    string            `json:"application"`
	Namespace      string            `json:"namespace"`
	Action         string            `json:"action"`
	Manifests      []json.RawMessage `json:"manifests"`
	TimeoutSeconds int               `json:"timeout_seconds,omitempty"`
	// RollbackTo names the job a rollback puts back (ActionRollback).
	RollbackTo string `json:"rollback_to,omitempty"`
}

// Error is a failed job's reason.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Job is a job as the API shows it and job.status_changed events carry it.
type Job struct {
	ID             string               `json:"id"`
	Organization   string               `json:"organization"`
	Cluster        string               `json:"cluster"`
	RequestID      *string              `json:"request_id"`
	Operation      Operation            `json:"operation"`
	Application    string               `json:"application"`
	Namespace      string               `json:"namespace"`
	Action         string               `json:"action"`
	Trigger        string               `json:"trigger"`
	TimeoutSeconds int                  `json:"timeout_seconds"`
	Status         store.JobStatus      `json:"status"`
	Attempt        int                  `json:"attempt"`
	CreatedAt      time.Time            `json:"created_at"`
	StartedAt      *time.Time           `json:"started_at"`
	FinishedAt     *time.Time           `json:"finished_at"`
	Error          *Error               `json:"error"`
	Objects        []apply.ObjectResult `json:"objects"`
	// Waiting is set while a queued job waits for its cluster to be
	// reachable again; nil otherwise.
	Waiting *Waiting `json:"waiting"`
	// Retries are the transient failures its run retried, oldest first.
	Retries []Retry `json:"retries"`
	// Cancellation says why a cancelled job was; nil otherwise.
	Cancellation *Cancellation `json:"cancellation"`
	// Result is an operate job's operation's report; nil for other jobs
	// and before the operation was first observed.
	Result *Result `json:"result"`
	// SourceJob is the job a rollback put back (trigger rollback); nil
	// for other jobs.
	SourceJob *string `json:"source_job"`
}

// Waiting says why a queued job does not run yet, since when, when it is
// tried again, and until when it waits before it fails.
type Waiting struct {
	Reason string    `json:"reason"`
	Since  time.Time `json:"since"`
	// NextAttemptAt is when a job put back after a transient failure is
	// tried again; nil while it waits for its cluster's breaker to close.
	NextAttemptAt *time.Time `json:"next_attempt_at"`
	Deadline      time.Time  `json:"deadline"`
}

// Cancellation is why a job was cancelled: CancelRequested or
// CancelSuperseded, with a sentence.
type Cancellation struct {
	Reason  ErrorCode `json:"reason"`
	Message string    `json:"message"`
}

// FromRow renders a stored job.
func FromRow(r *store.Job) *Job {
	j := &Job{
		ID: r.ID, Organization: r.Organization, Cluster: r.Cluster, Operation: Operation{Engine: r.Engine, Type: r.Type},
		Application: r.Application, Namespace: r.Namespace, Action: r.Action, Trigger: r.Trigger,
		TimeoutSeconds: r.TimeoutSeconds, Status: r.Status, Attempt: r.Attempt,
		CreatedAt: r.CreatedAt.UTC(), StartedAt: utc(r.StartedAt), FinishedAt: utc(r.FinishedAt),
		Objects: []apply.ObjectResult{},
	}
	if r.RequestID != "" {
		j.RequestID = &r.RequestID
	}
	if r.ErrorCode != "" && r.Status == store.JobFailed { // the contract: error only when failed
		j.Error = &Error{Code: r.ErrorCode, Message: r.ErrorMessage}
	}
	if r.Objects != "" {
		json.Unmarshal([]byte(r.Objects), &j.Objects)
	}
	j.Retries = []Retry{}
	if r.Retries != "" {
		json.Unmarshal([]byte(r.Retries), &j.Retries)
	}
	if r.Status == store.JobQueued && r.WaitReason != "" && r.WaitingSince != nil {
		j.Waiting = &Waiting{Reason: r.WaitReason, Since: r.WaitingSince.UTC(), NextAttemptAt: utc(r.NextAttemptAt), Deadline: deadline(r).UTC()}
	}
	j.Result = resultOf(r)
	if r.SourceJob != "" {
		j.SourceJob = &r.SourceJob
	}
	if r.Status == store.JobCancelled {
		j.Cancellation = &Cancellation{Reason: CancelRequested, Message: r.ErrorMessage}
		if ErrorCode(r.ErrorCode) == CancelSuperseded {
			j.Cancellation.Reason = CancelSuperseded
		}
	}
	return j
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// statusEvent is the outbox row announcing a job's (new) state.
func statusEvent(r *store.Job) *store.Event {
	data, _ := json.Marshal(FromRow(r))
	return &store.Event{ID: "evt_" + uuid.NewString(), Type: EventStatusChanged, Organization: r.Organization, Cluster: r.Cluster, Data: string(data)}
}
