package jobs

import (
	"errors"

	"github.com/vworkspace/pushd/pkg/apply"
	"github.com/vworkspace/pushd/pkg/clusters"
)

// ErrorCode names why a job was refused (RuleError.Code, a 422's code),
// why it failed (Job.Error.Code) or why it was cancelled
// (Job.Cancellation.Reason). The values are the contract's
// (api/openapi.yaml: RuleCode, JobError, JobCancellation): a rule's code
// (Rules), a run's failure (failures), or a cancellation.
type ErrorCode string

// Codes of a run that failed on something else than a rule.
const (
	// CodeClusterUnreachable: the cluster's API server did not answer, its
	// breaker is open, or it stayed so past the job's deadline.
	CodeClusterUnreachable  ErrorCode = "cluster_unreachable"
	CodeClusterUnauthorized ErrorCode = "cluster_unauthorized"
	CodeNamespaceNotManaged ErrorCode = "namespace_not_managed"
	CodePreflightFailed     ErrorCode = "preflight_failed"
	CodeObjectFailed        ErrorCode = "object_failed"
	CodeOwnershipConflict   ErrorCode = "ownership_conflict"
	CodeTimeout             ErrorCode = "timeout"
	CodeForbidden           ErrorCode = "forbidden"
	// CodeApplyFailed: any other failure of the run.
	CodeApplyFailed ErrorCode = "apply_failed"
	// CodeInternalError: the run panicked (a bug).
	CodeInternalError ErrorCode = "internal_error"
)

// Reasons a job was cancelled (its error code, shown in Job.Cancellation).
const (
	// CancelRequested: Odoo, the UI or the CLI asked.
	CancelRequested ErrorCode = "cancelled"
	// CancelSuperseded: a drift correction found, when claimed, that its
	// application's latest intent is no longer the one it was to put back.
	CancelSuperseded ErrorCode = "superseded"
)

// failures name a run's error, the first that matches; what matches none
// is CodeApplyFailed. A refusal carries its rule's code (a RuleError's, or
// the engine's apply.RefusedError's: code "" below).
var failures = []struct {
	code ErrorCode
	is   func(error) bool
}{
	{RuleNoCredentials, func(err error) bool { return errors.Is(err, clusters.ErrNoCredentials) }},
	{CodeClusterUnreachable, func(err error) bool { return errors.Is(err, apply.ErrUnreachable) }},
	{CodeClusterUnauthorized, func(err error) bool { return errors.Is(err, apply.ErrUnauthorized) }},
	{CodeNamespaceNotManaged, as[*apply.NamespaceNotManagedError]},
	{"", as[*apply.RefusedError]},
	{CodePreflightFailed, as[*apply.PreflightError]},
	{CodeObjectFailed, as[*apply.ObjectFailedError]},
	{CodeOwnershipConflict, as[*apply.OwnershipError]},
	{CodeTimeout, as[*apply.TimeoutError]},
	{CodeForbidden, func(err error) bool { return errors.Is(err, apply.ErrForbidden) }},
}

func as[T error](err error) bool {
	var target T
	return errors.As(err, &target)
}

// errorCode names a failure for Odoo.
func errorCode(err error) ErrorCode {
	var rule *RuleError
	if errors.As(err, &rule) {
		return rule.Code
	}
	for _, f := range failures {
		if !f.is(err) {
			continue
		}
		if f.code == "" {
			var refused *apply.RefusedError
			errors.As(err, &refused)
			return ObjectCode(refused.Rule)
		}
		return f.code
	}
	return CodeApplyFailed
}

// FailureCodes lists every code a failed job can carry (Job.Error.Code):
// every rule's (checked again when it is claimed), the engine's request
// rules', and a run's failures.
func FailureCodes() []ErrorCode {
	var out []ErrorCode
	for _, r := range Rules() {
		out = append(out, r.Code)
	}
	for _, r := range apply.RequestRules {
		out = append(out, ObjectCode(r))
	}
	for _, f := range failures {
		if f.code != "" {
			out = appendNew(out, f.code)
		}
	}
	return append(out, CodeApplyFailed, CodeInternalError, CodeOperationFailed)
}

// CancelCodes lists the reasons a job can be cancelled with.
func CancelCodes() []ErrorCode { return []ErrorCode{CancelRequested, CancelSuperseded} }

func appendNew(codes []ErrorCode, c ErrorCode) []ErrorCode {
	for _, have := range codes {
		if have == c {
			return codes
		}
	}
	return append(codes, c)
}
