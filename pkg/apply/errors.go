package apply

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/vworkspace/pushd/pkg/clusters"
)

// Errors a run wraps when the cluster, not the manifests, is the cause.
// Test with errors.Is; the wrapped error says more.
var (
	// ErrUnreachable: no answer from the API server (network, TLS, server down).
	ErrUnreachable = errors.New("cluster unreachable")
	// ErrUnauthorized: the API server rejected the credential.
	ErrUnauthorized = errors.New("credential rejected by the cluster")
	// ErrForbidden: the credential lacks a right the run needs.
	ErrForbidden = errors.New("forbidden by the cluster's RBAC")
)

// NamespaceNotManagedError refuses a run whose namespace does not carry
// managed-by=vworkspace (or does not exist). Nothing was written.
type NamespaceNotManagedError struct {
	Namespace string
	// Missing is true when the namespace does not exist at all.
	Missing bool
}

func (e *NamespaceNotManagedError) Error() string {
	if e.Missing {
		return fmt.Sprintf("namespace %q: does not exist; nothing was written", e.Namespace)
	}
	return fmt.Sprintf("namespace %q: not managed by vWorkspace (label %s=%s missing); nothing was written",
		e.Namespace, clusters.ManagedNamespaceLabel, clusters.ManagedNamespaceValue)
}

// RefusedError is an object of the request that breaks one of pushd's rules
// (ObjectRules, RequestRules), found before anything was sent to the
// cluster. The API refuses such jobs already; the engine checks again so no
// caller can skip the rules.
type RefusedError struct {
	Object ObjectRef
	Rule   Rule
	Detail string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("%s: refused (%s): %s", e.Object, e.Rule, e.Detail)
}

// ObjectError is one object's failure at one step: Verb is apply, prune,
// delete or dry-run.
type ObjectError struct {
	Object ObjectRef
	Verb   string
	Err    error
}

func (e *ObjectError) Error() string { return e.Verb + " " + e.Object.String() + ": " + e.Err.Error() }
func (e *ObjectError) Unwrap() error { return e.Err }

// PreflightError lists the objects the server-side dry-run refused. The run
// stopped before its first write: nothing was changed.
type PreflightError struct {
	Objects []*ObjectError
}

func (e *PreflightError) Error() string {
	msgs := make([]string, len(e.Objects))
	for i, o := range e.Objects {
		msgs[i] = o.Error()
	}
	return fmt.Sprintf("preflight refused %d object(s), nothing was written: %s", len(e.Objects), strings.Join(msgs, "; "))
}

func (e *PreflightError) Unwrap() []error {
	errs := make([]error, len(e.Objects))
	for i, o := range e.Objects {
		errs[i] = o
	}
	return errs
}

// ObjectFailedError is an object its controller reported Failed (kstatus:
// Stalled=True). Message is the controller's.
type ObjectFailedError struct {
	Object  ObjectRef
	Message string
}

func (e *ObjectFailedError) Error() string {
	return "reconcile " + e.Object.String() + ": failed: " + e.Message
}

// OwnershipError is an object that already exists and belongs to another
// inventory (Owned) or to none. pushd never takes such objects over: the
// object was left as it was.
type OwnershipError struct {
	Object ObjectRef
	Owned  bool
}

func (e *OwnershipError) Error() string { return "apply " + e.Object.String() + ": " + e.reason() }

func (e *OwnershipError) reason() string {
	if e.Owned {
		return "exists and belongs to another inventory; pushd does not take objects over"
	}
	return "exists and belongs to no inventory; pushd does not adopt objects it did not create"
}

// TimeoutError lists the objects that were not reconciled (not Current, or
// for pruned objects not gone) when the wait ran out.
type TimeoutError struct {
	Timeout time.Duration
	Objects []ObjectResult
}

func (e *TimeoutError) Error() string {
	msgs := make([]string, len(e.Objects))
	for i, o := range e.Objects {
		msgs[i] = o.ObjectRef.String() + " (" + o.Status
		if o.Message != "" {
			msgs[i] += ": " + o.Message
		}
		msgs[i] += ")"
	}
	return fmt.Sprintf("wait: %d object(s) not reconciled after %s: %s", len(e.Objects), e.Timeout, strings.Join(msgs, "; "))
}

// classify marks err with ErrUnauthorized, ErrForbidden or ErrUnreachable
// when the cluster is the cause, keeping err (and its subject) first.
func classify(err error) error {
	switch {
	case err == nil,
		errors.Is(err, ErrUnauthorized), errors.Is(err, ErrForbidden), errors.Is(err, ErrUnreachable),
		// The caller gave up; the cluster may be fine.
		errors.Is(err, context.Canceled):
		return err
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("%w (%w)", err, ErrUnauthorized)
	case apierrors.IsForbidden(err):
		return fmt.Errorf("%w (%w)", err, ErrForbidden)
	case unreachable(err):
		return fmt.Errorf("%w (%w)", err, ErrUnreachable)
	}
	return err
}

func unreachable(err error) bool {
	var urlErr *url.Error
	var netErr net.Error
	return errors.As(err, &urlErr) || errors.As(err, &netErr) ||
		apierrors.IsServiceUnavailable(err) || apierrors.IsTimeout(err) || apierrors.IsServerTimeout(err)
}
