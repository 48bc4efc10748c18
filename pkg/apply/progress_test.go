package apply_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vworkspace/pushd/pkg/apply"
)

// progressLog collects the snapshots a run's Progress hook is given.
type progressLog struct {
	mu        sync.Mutex
	snapshots [][]apply.ObjectResult
}

func (p *progressLog) hook(objs []apply.ObjectResult) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.snapshots = append(p.snapshots, objs)
}

// first is the index of the first snapshot in which ok holds for the object
// named name; -1 when none.
func (p *progressLog) first(name string, ok func(apply.ObjectResult) bool) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, s := range p.snapshots {
		for _, o := range s {
			if o.Name == name && ok(o) {
				return i
			}
		}
	}
	return -1
}

// TestProgressReportsObjectsAsTheRunGoes: Progress hears of each object as
// it is written, before the run's wait is over, then of the status change
// the wait sees, and in Destroy of each deletion; every snapshot is the
// callee's to keep.
func TestProgressReportsObjectsAsTheRunGoes(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, true, apply.Options{})
	objs := load(t, "configmap.yaml", "app.yaml") // the Application is Ready after the operator's delay
	p := &progressLog{}
	res, err := e.engine.Apply(ctx, apply.Request{Namespace: e.ns, Application: "web", Objects: objs, Timeout: time.Minute, Progress: p.hook})
	if err != nil {
		t.Fatal(err)
	}
	written := p.first("web", func(o apply.ObjectResult) bool { return o.Action == apply.ActionCreated && o.Status != "Current" })
	current := p.first("web", func(o apply.ObjectResult) bool { return o.Status == "Current" })
	if written < 0 || current <= written {
		t.Fatalf("snapshots %v: want web created and not yet Current, then Current", p.snapshots)
	}
	last := p.snapshots[len(p.snapshots)-1]
	if !slices.Equal(last, res.Objects) {
		t.Errorf("last snapshot %v, want the result %v", last, res.Objects)
	}
	// The early snapshot was not overwritten by later ones: it is a copy.
	if o := p.snapshots[written]; find(&apply.Result{Objects: o}, "web").Status == "Current" {
		t.Errorf("snapshot %d changed after it was given: %v", written, o)
	}

	d := &progressLog{}
	if _, err := e.engine.Destroy(ctx, apply.Request{Namespace: e.ns, Application: "web", Progress: d.hook}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"web", "web-config"} {
		if d.first(name, func(o apply.ObjectResult) bool { return o.Action == apply.ActionDeleted }) < 0 {
			t.Errorf("destroy snapshots %v: want %s deleted", d.snapshots, name)
		}
	}
}
