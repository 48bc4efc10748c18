package apply

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/apply/event"
	"sigs.k8s.io/cli-utils/pkg/apply/filter"
	cliinventory "sigs.k8s.io/cli-utils/pkg/inventory"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/cli-utils/pkg/object"

	"github.com/vworkspace/pushd/pkg/inventory"
)

// errFailFast is the cause a run is cancelled with once an object is
// Failed. kstatus reports Failed when the controller says it gave up
// (Stalled), so waiting for the other objects would only delay the report.
// The price: cli-utils skips the prune and the final inventory update of
// that run; both happen on the next successful one.
var errFailFast = errors.New("stopped after an object failed")

// recorder turns one run's cli-utils events into per-object results and the
// run's error. Only the goroutine draining the event channel touches it.
type recorder struct {
	subject string // names the run in errors of the run as a whole
	objects map[object.ObjMetadata]*ObjectResult
	// before holds each applied object's resourceVersion as the preflight
	// saw it: "" when it did not exist.
	before map[object.ObjMetadata]string
	red    redactor
	notify func(ObjectResult)
	// progress is the Request's Progress hook; nil when unset.
	progress func([]ObjectResult)
	stop     context.CancelCauseFunc
	// waitTimeout and deleteTimeout are the run's two waits, for TimeoutError.
	waitTimeout, deleteTimeout time.Duration

	runErr   error
	errs     []error // object failures in arrival order
	failed   []object.ObjMetadata
	timedOut []object.ObjMetadata
}

func (r *recorder) entry(id object.ObjMetadata, version string) *ObjectResult {
	o, ok := r.objects[id]
	if !ok {
		o = &ObjectResult{ObjectRef: refFromID(id, version), Status: string(status.UnknownStatus)}
		r.objects[id] = o
	}
	if o.Version == "" {
		o.Version = version
	}
	return o
}

func versionOf(u *unstructured.Unstructured) string {
	if u == nil {
		return ""
	}
	return u.GroupVersionKind().Version
}

func (r *recorder) handle(ev event.Event) {
	switch ev.Type {
	case event.ApplyType:
		r.apply(ev.ApplyEvent)
	case event.PruneType:
		pe := ev.PruneEvent
		r.remove(pe.Identifier, pe.Object, "prune", ActionPruned, pe.Status == event.PruneSuccessful, pe.Status == event.PruneSkipped, pe.Error)
	case event.DeleteType:
		de := ev.DeleteEvent
		r.remove(de.Identifier, de.Object, "delete", ActionDeleted, de.Status == event.DeleteSuccessful, de.Status == event.DeleteSkipped, de.Error)
	case event.StatusType:
		r.status(ev.StatusEvent)
	case event.WaitType:
		r.wait(ev.WaitEvent)
	case event.ErrorType:
		r.runErr = ev.ErrorEvent.Err
	case event.ValidationType:
		r.errs = append(r.errs, fmt.Errorf("validate %v: %w", ev.ValidationEvent.Identifiers, ev.ValidationEvent.Error))
	}
}

func (r *recorder) apply(ae event.ApplyEvent) {
	o := r.entry(ae.Identifier, versionOf(ae.Resource))
	switch ae.Status {
	case event.ApplySuccessful:
		before, known := r.before[ae.Identifier]
		switch {
		case known && before == "":
			o.Action = ActionCreated
		case known && ae.Resource != nil && ae.Resource.GetResourceVersion() == before:
			// The API server skips writes that change nothing, so an
			// unchanged version means nothing changed.
			o.Action = ActionUnchanged
		default:
			o.Action = ActionConfigured
		}
	case event.ApplySkipped:
		o.Action, o.Status = ActionSkipped, string(status.UnknownStatus)
		var policy *cliinventory.PolicyPreventedActuationError
		if errors.As(ae.Error, &policy) {
			oe := &OwnershipError{Object: o.ObjectRef, Owned: policy.Status == cliinventory.NoMatch}
			o.Message = oe.reason()
			r.errs = append(r.errs, oe)
		} else if ae.Error != nil {
			// Skipped because an object it depends on failed: that
			// failure is the one reported.
			o.Message = r.red.string(ae.Error.Error())
		}
	case event.ApplyFailed:
		err := r.red.error(classify(ae.Error))
		o.Action, o.Message = ActionFailed, err.Error()
		r.errs = append(r.errs, &ObjectError{Object: o.ObjectRef, Verb: "apply", Err: err})
	}
	r.report(o)
}

// report tells the run's listeners that o changed: OnEvent gets o, the
// Request's Progress hook a snapshot of every object acted on so far.
func (r *recorder) report(o *ObjectResult) {
	r.notify(*o)
	if r.progress != nil {
		r.progress(r.snapshot())
	}
}

// snapshot is a fresh, sorted copy of the results of the objects the run has
// acted on so far.
func (r *recorder) snapshot() []ObjectResult {
	out := make([]ObjectResult, 0, len(r.objects))
	for _, o := range r.objects {
		if o.Action != "" {
			out = append(out, *o)
		}
	}
	sortResults(out)
	return out
}

func (r *recorder) remove(id object.ObjMetadata, obj *unstructured.Unstructured, verb, done string, ok, skipped bool, err error) {
	o := r.entry(id, versionOf(obj))
	switch {
	case ok:
		o.Action = done
	case skipped:
		// Another inventory took it over, or it is marked to be kept:
		// leaving it is the point, not a failure.
		o.Action = ActionSkipped
		var policy *cliinventory.PolicyPreventedActuationError
		var kept *filter.AnnotationPreventedDeletionError
		switch {
		case errors.As(err, &policy):
			o.Message = "left in place: no longer owned by this inventory"
		case errors.As(err, &kept):
			mark := kept.Annotation + "=" + kept.Value
			if helmKept(obj) {
				mark = inventory.HelmKeepAnnotation + "=" + inventory.HelmKeepValue
			}
			o.Message = "left in place and removed from the inventory: marked " + mark
		case err != nil:
			o.Message = "left in place: " + r.red.string(err.Error())
		}
	default:
		err = r.red.error(classify(err))
		o.Action, o.Message = ActionFailed, err.Error()
		r.errs = append(r.errs, &ObjectError{Object: o.ObjectRef, Verb: verb, Err: err})
	}
	r.report(o)
}

func (r *recorder) status(se event.StatusEvent) {
	o := r.entry(se.Identifier, versionOf(se.Resource))
	if o.Action == ActionSkipped {
		return // not pushd's object: its status is not this run's to report
	}
	was := *o
	if info := se.PollResourceInfo; info != nil {
		o.Status = string(info.Status)
		if o.Action != ActionFailed { // keep the failure's message
			o.Message = r.red.string(info.Message)
		}
	}
	if se.Error != nil {
		o.Message = r.red.string(se.Error.Error())
	}
	r.notify(*o)
	// Status events repeat on every update of the object; Progress hears
	// of changes only.
	if r.progress != nil && *o != was {
		r.progress(r.snapshot())
	}
}

func (r *recorder) wait(we event.WaitEvent) {
	switch we.Status {
	case event.ReconcileFailed:
		r.failed = append(r.failed, we.Identifier)
		r.stop(errFailFast)
	case event.ReconcileTimeout:
		r.timedOut = append(r.timedOut, we.Identifier)
	}
}

// finish builds the Result and the run's error: the run's own error, then
// object failures, reconcile failures and timeouts, all joined. ctx is the
// caller's, runCtx the one the run was given.
func (r *recorder) finish(ctx, runCtx context.Context) (*Result, error) {
	res := &Result{Objects: make([]ObjectResult, 0, len(r.objects))}
	for _, o := range r.objects {
		if o.Action == "" {
			o.Action = ActionSkipped
			if o.Message == "" {
				o.Message = "not applied: the run stopped before reaching it"
			}
		}
		res.Objects = append(res.Objects, *o)
	}
	sortResults(res.Objects)

	var errs []error
	failFast := ctx.Err() == nil && errors.Is(context.Cause(runCtx), errFailFast)
	if r.runErr != nil && !(failFast && errors.Is(r.runErr, context.Canceled)) {
		errs = append(errs, fmt.Errorf("%s: %w", r.subject, r.red.error(classify(r.runErr))))
	}
	errs = append(errs, r.errs...)
	for _, id := range r.failed {
		o := r.objects[id]
		errs = append(errs, &ObjectFailedError{Object: o.ObjectRef, Message: o.Message})
	}
	if len(r.timedOut) > 0 {
		te := &TimeoutError{Timeout: r.deleteTimeout}
		for _, id := range r.timedOut {
			o := r.objects[id]
			if o.Action != ActionPruned && o.Action != ActionDeleted {
				te.Timeout = r.waitTimeout
			}
			te.Objects = append(te.Objects, *o)
		}
		sortResults(te.Objects)
		errs = append(errs, te)
	}
	switch len(errs) {
	case 0:
		return res, nil
	case 1:
		return res, errs[0]
	}
	return res, errors.Join(errs...)
}
