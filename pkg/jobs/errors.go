package jobs

import (
	"errors"
	"fmt"

	"github.com/vworkspace/pushd/pkg/apply"
)

// FieldError is a malformed job (HTTP 400).
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// RuleError is a well-formed job a rule of the cluster's record refuses
// (HTTP 422). Code names the rule, as the contract lists them.
type RuleError struct {
	Code    apply.Rule
	Message string
	// Field points at the offending part of the job, e.g. manifests[2].
	Field string
	// Value is the offending value when it is short and no secret: a name,
	// or an object's Kind/name — never an object's content.
	Value string
}

func (e *RuleError) Error() string { return e.Message }

func refuse(code apply.Rule, field, format string, args ...any) error {
	return &RuleError{Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrConflict: the job id exists with other content (HTTP 409).
var ErrConflict = errors.New("a job with this id exists with different content")

// ErrNotFound: no such job, or one of another organization (HTTP 404).
var ErrNotFound = errors.New("job not found")

// ErrBackpressure: the cluster has as many queued jobs as pushd accepts
// (HTTP 429); the sender retries later.
var ErrBackpressure = errors.New("too many queued jobs for this cluster")
