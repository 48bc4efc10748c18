package jobs

import (
	"context"
	"sync"

	"github.com/vworkspace/pushd/pkg/apply"
)

// FakeApplier is an Applier for tests of the runner's policy (retries,
// progress, panics, cancels) without a cluster: each call goes to its
// function; a nil one succeeds with no objects.
type FakeApplier struct {
	ApplyFunc   func(ctx context.Context, req apply.Request) (*apply.Result, error)
	DestroyFunc func(ctx context.Context, req apply.Request) (*apply.Result, error)

	mu    sync.Mutex
	calls int
}

var _ Applier = (*FakeApplier)(nil)

func (f *FakeApplier) Apply(ctx context.Context, req apply.Request) (*apply.Result, error) {
	f.count()
	if f.ApplyFunc == nil {
		return &apply.Result{}, nil
	}
	return f.ApplyFunc(ctx, req)
}

func (f *FakeApplier) Destroy(ctx context.Context, req apply.Request) (*apply.Result, error) {
	f.count()
	if f.DestroyFunc == nil {
		return &apply.Result{}, nil
	}
	return f.DestroyFunc(ctx, req)
}

// Calls is how many runs reached the applier.
func (f *FakeApplier) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func (f *FakeApplier) count() {
	f.mu.Lock()
	f.calls++
	f.mu.Unlock()
}

// FakeEngines gives every cluster the same Applier, All.
type FakeEngines struct{ All Applier }

var _ Engines = FakeEngines{}

func (f FakeEngines) Applier(string) (Applier, error) { return f.All, nil }
