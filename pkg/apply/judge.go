package apply

import (
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/cli-utils/pkg/kstatus/polling/engine"
	"sigs.k8s.io/cli-utils/pkg/kstatus/polling/statusreaders"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/cli-utils/pkg/object"
)

// Judge tells the status of an object where kstatus cannot: an operation's
// custom resource is Current only once its outcome rule says it succeeded
// (a Velero Backup without conditions would be Current at once), Failed
// once its failure rule holds, InProgress before. ok is false for an
// object the judge has no rule for; kstatus (controllerStatus for
// controller groups) then decides.
//
// It is called from the status watcher's goroutines, for every change of
// the object, and must return quickly.
type Judge func(u *unstructured.Unstructured) (res status.Result, ok bool)

// judges holds the Judge of each object a run is waiting on: the engine's
// status watcher is shared by its runs, and a run's judge must reach only
// that run's objects.
type judges struct {
	mu    sync.RWMutex
	byID  map[object.ObjMetadata]Judge
	kinds map[schema.GroupKind]int
}

// add registers j for ids until the returned func is called.
func (js *judges) add(ids []object.ObjMetadata, j Judge) (remove func()) {
	js.mu.Lock()
	defer js.mu.Unlock()
	if js.byID == nil {
		js.byID, js.kinds = map[object.ObjMetadata]Judge{}, map[schema.GroupKind]int{}
	}
	for _, id := range ids {
		js.byID[id] = j
		js.kinds[id.GroupKind]++
	}
	return func() {
		js.mu.Lock()
		defer js.mu.Unlock()
		for _, id := range ids {
			delete(js.byID, id)
			if js.kinds[id.GroupKind]--; js.kinds[id.GroupKind] <= 0 {
				delete(js.kinds, id.GroupKind)
			}
		}
	}
}

func (js *judges) judge(u *unstructured.Unstructured) (*status.Result, bool) {
	js.mu.RLock()
	j := js.byID[object.UnstructuredToObjMetadata(u)]
	js.mu.RUnlock()
	if j == nil {
		return nil, false
	}
	res, ok := j(u)
	return &res, ok
}

func (js *judges) supports(gk schema.GroupKind) bool {
	js.mu.RLock()
	defer js.mu.RUnlock()
	return js.kinds[gk] > 0
}

// judgedReader reads the kinds some run has a Judge for with the engine's
// status function (Engine.status), which asks the judge first. It stands
// before every other reader of the engine's status watcher. An object its
// judge passes over gets kstatus's verdict from Engine.status, the one the
// built-in readers (Deployment, StatefulSet) would give: they differ only
// in the generated resources they list, which pushd does not report.
type judgedReader struct {
	engine.StatusReader
	js *judges
}

var _ engine.StatusReader = judgedReader{}

func newJudgedReader(e *Engine) judgedReader {
	return judgedReader{
		StatusReader: statusreaders.NewGenericStatusReader(e.c.Mapper, e.status),
		js:           &e.judges,
	}
}

func (r judgedReader) Supports(gk schema.GroupKind) bool { return r.js.supports(gk) }
