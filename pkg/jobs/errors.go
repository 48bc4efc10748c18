package jobs

import (
	"errors"
	"fmt"
)

// FieldError is a malformed job (HTTP 400).
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// RuleError is a well-formed job a rule of the cluster's record refuses
// (HTTP 422). Code names the rule (Rules), as the contract lists them.
type RuleError struct {
	Code    ErrorCode
	Message string
	// Field points at the offending part of the job, e.g. manifests[2].
	Field string
	// Value is the offending value when it is short and no secret: a name,
	// or an object's Kind/name — never an object's content.
	Value string
	// APIVersion, Kind and Name name the refused manifest when the rule is
	// about one object; empty for rules about the job as a whole.
	APIVersion, Kind, Name string
	// More are the job's further refusals after this one, in manifest
	// order (one per object and rule), at most MaxRefusals-1 of them;
	// Omitted counts those beyond that bound. This refusal, the first,
	// gives the answer its code and message.
	More    []*RuleError
	Omitted int
}

// Error is the first refusal's message, as it was before More existed: the
// others travel as values (the API's details), not as text.
func (e *RuleError) Error() string { return e.Message }

// All is the refusals e stands for: itself, then More.
func (e *RuleError) All() []*RuleError {
	return append([]*RuleError{e}, e.More...)
}

// MaxRefusals bounds the refusals one job's answer lists; the others are
// only counted (RuleError.Omitted).
const MaxRefusals = 100

// refusals folds a job's refusals into one error: the first, carrying the
// others. Nil when there are none.
func refusals(all []*RuleError) error {
	if len(all) == 0 {
		return nil
	}
	first := all[0]
	rest := all[1:]
	if len(rest) > MaxRefusals-1 {
		first.Omitted = len(rest) - (MaxRefusals - 1)
		rest = rest[:MaxRefusals-1]
	}
	first.More = rest
	return first
}

func refuse(code ErrorCode, field, format string, args ...any) error {
	return &RuleError{Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

// withValue sets a rule error's offending value (a name, never content).
func withValue(err error, v string) error {
	err.(*RuleError).Value = v
	return err
}

// unreadError: a rule could not be checked because the store could not be
// read; it says nothing of the job, which may be checked again.
type unreadError struct{ err error }

func (e *unreadError) Error() string { return e.err.Error() }
func (e *unreadError) Unwrap() error { return e.err }

// ErrConflict: the job id exists with other content (HTTP 409).
var ErrConflict = errors.New("a job with this id exists with different content")

// ErrNotFound: no such job, or one of another organization (HTTP 404).
var ErrNotFound = errors.New("job not found")

// ErrBackpressure: the cluster has as many queued jobs as pushd accepts
// (HTTP 429); the sender retries later.
var ErrBackpressure = errors.New("too many queued jobs for this cluster")
