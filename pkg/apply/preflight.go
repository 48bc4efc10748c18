package apply

import (
	"context"
	"fmt"

	"golang.org/x/sync/errgroup"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/cli-utils/pkg/object"

	"github.com/vworkspace/pushd/pkg/workers"
)

// preflight sends every object as a server-side apply dry-run (dryRun=All,
// same field manager, same force) before the first write, so anything the
// API server or its admission would refuse fails the run while nothing has
// changed: cli-utils applies object by object and would otherwise leave a
// half-applied set behind. Field validation is Strict, stricter than the
// real apply, so typos in custom resources are refused instead of silently
// pruned.
//
// It returns each object as the dry-run says the apply would leave it. Its
// resourceVersion is the server's before the run ("" when the object does
// not exist yet): an apply that returns the same version changed nothing.
func (e *Engine) preflight(ctx context.Context, targets []target, red redactor) (map[object.ObjMetadata]*unstructured.Unstructured, error) {
	results := make([]*unstructured.Unstructured, len(targets))
	failures := make([]*ObjectError, len(targets))
	var g errgroup.Group // no shared cancel: every refused object is reported
	var relay workers.Relay
	g.SetLimit(e.opts.PreflightConcurrency)
	for i, t := range targets {
		g.Go(func() error {
			relay.Run(func() { results[i], failures[i] = e.dryRun(ctx, t, red) })
			return nil
		})
	}
	g.Wait()
	relay.Rethrow() // a dry-run's panic is the job's (workers.Guard)
	var refused []*ObjectError
	dryRuns := make(map[object.ObjMetadata]*unstructured.Unstructured, len(targets))
	for i, t := range targets {
		if failures[i] != nil {
			refused = append(refused, failures[i])
			continue
		}
		dryRuns[t.id] = results[i]
	}
	if len(refused) > 0 {
		return nil, &PreflightError{Objects: refused}
	}
	return dryRuns, nil
}

func (e *Engine) dryRun(ctx context.Context, t target, red redactor) (*unstructured.Unstructured, *ObjectError) {
	fail := func(err error) (*unstructured.Unstructured, *ObjectError) {
		return nil, &ObjectError{Object: t.ref, Verb: "dry-run apply", Err: red.error(err)}
	}
	if t.mapping == nil {
		return fail(fmt.Errorf("unknown kind: %w", t.mapErr))
	}
	data, err := t.obj.MarshalJSON()
	if err != nil {
		return fail(err)
	}
	force := true
	got, err := e.c.Dynamic.Resource(t.mapping.Resource).Namespace(t.obj.GetNamespace()).Patch(ctx, t.obj.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{
		DryRun:          []string{metav1.DryRunAll},
		Force:           &force,
		FieldManager:    FieldManager,
		FieldValidation: metav1.FieldValidationStrict,
	})
	if err != nil {
		return fail(classify(err))
	}
	return got, nil
}
