package apply

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"
	cliapply "sigs.k8s.io/cli-utils/pkg/apply"
	cliinventory "sigs.k8s.io/cli-utils/pkg/inventory"
	"sigs.k8s.io/cli-utils/pkg/kstatus/watcher"

	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/inventory"
)

// FieldManager is the server-side apply field manager of every write and
// dry-run pushd makes.
const FieldManager = inventory.FieldManager

// Options are an Engine's optional knobs; the zero value is usable.
type Options struct {
	// Timeout bounds the wait for applied objects to become Current when a
	// Request names none. Default 5 minutes.
	Timeout time.Duration
	// DeleteTimeout bounds the wait for pruned and destroyed objects to be
	// gone (Destroy uses Request.Timeout instead when set). Default 2 minutes.
	DeleteTimeout time.Duration
	// ControllerGroups are the API groups whose objects only count as
	// reconciled once status.observedGeneration reaches metadata.generation
	// (see controllerStatus). Nil means ["vworkspace.io"]; empty means none.
	ControllerGroups []string
	// PreflightConcurrency bounds the dry-run requests in flight during
	// preflight, and the writes in flight when objects are applied in
	// parallel (applyParallel). Default 8: past that, a 2-core API server
	// answered no faster (README, Performance); the cluster's rate limit
	// applies on top.
	PreflightConcurrency int
	// OnEvent, when set, receives an object's result each time it changes
	// during a run. It is called from the goroutine that drains cli-utils'
	// events, which waits for it: it must return quickly.
	OnEvent func(ObjectResult)
	// Logger receives one line per run; discarded when nil.
	Logger *slog.Logger
}

func (o *Options) defaults() {
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Minute
	}
	if o.DeleteTimeout <= 0 {
		o.DeleteTimeout = 2 * time.Minute
	}
	if o.ControllerGroups == nil {
		o.ControllerGroups = []string{"vworkspace.io"}
	}
	if o.PreflightConcurrency <= 0 {
		o.PreflightConcurrency = 8
	}
	if o.OnEvent == nil {
		o.OnEvent = func(ObjectResult) {}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Engine applies and destroys applications in one cluster. Build one per
// cluster with New and share it between that cluster's jobs.
type Engine struct {
	c         *clusters.Clients
	opts      Options
	applier   *cliapply.Applier
	destroyer *cliapply.Destroyer
	inv       cliinventory.Client
	watcher   watcher.StatusWatcher // the applier's and destroyer's, for Engine.wait
	judges    judges                // of the objects runs wait on (Request.Judge)
}

// New builds the engine of the cluster c reaches. Every request it makes goes
// through c's HTTP client and rate limiter.
func New(c *clusters.Clients, opts Options) (*Engine, error) {
	if c == nil || c.Config == nil || c.HTTP == nil || c.Discovery == nil || c.Mapper == nil || c.Dynamic == nil || c.Kube == nil {
		return nil, errors.New("apply: incomplete cluster clients")
	}
	if errs := validation.IsDNS1123Label(c.ClusterID); len(errs) > 0 {
		return nil, fmt.Errorf("apply: cluster id %q: %s", c.ClusterID, strings.Join(errs, "; "))
	}
	opts.defaults()
	f := newFactory(c)
	invClient, err := cliinventory.ClusterClientFactory{StatusPolicy: cliinventory.StatusPolicyNone}.NewClient(f)
	if err != nil {
		return nil, fmt.Errorf("cluster %q: inventory client: %w", c.ClusterID, err)
	}
	e := &Engine{c: c, opts: opts, inv: invClient}
	w := newStatusWatcher(c, opts.ControllerGroups, newJudgedReader(e))
	applier, err := cliapply.NewApplierBuilder().
		WithFactory(f).
		WithRestConfig(c.Config).
		WithDynamicClient(c.Dynamic).
		WithDiscoveryClient(c.Discovery).
		WithRestMapper(c.Mapper).
		WithUnstructuredClientForMapping(f.UnstructuredClientForMapping).
		WithInventoryClient(invClient).
		WithStatusWatcher(w).
		Build()
	if err != nil {
		return nil, fmt.Errorf("cluster %q: applier: %w", c.ClusterID, err)
	}
	destroyer, err := cliapply.NewDestroyerBuilder().
		WithFactory(f).
		WithRestConfig(c.Config).
		WithDynamicClient(c.Dynamic).
		WithDiscoveryClient(c.Discovery).
		WithRestMapper(c.Mapper).
		WithUnstructuredClientForMapping(f.UnstructuredClientForMapping).
		WithInventoryClient(invClient).
		WithStatusWatcher(w).
		Build()
	if err != nil {
		return nil, fmt.Errorf("cluster %q: destroyer: %w", c.ClusterID, err)
	}
	e.applier, e.destroyer, e.watcher = applier, destroyer, w
	return e, nil
}

// inventoryInfo is the template of the key's inventory ConfigMap. cli-utils
// finds the live one by its id label and creates it from this template on
// the first apply, so the template's labels are the ConfigMap's.
func inventoryInfo(key inventory.Key) cliinventory.Info {
	cm := &unstructured.Unstructured{}
	cm.SetGroupVersionKind(cliinventory.ConfigMapGVK)
	cm.SetNamespace(key.Namespace)
	cm.SetName(key.Name())
	cm.SetLabels(key.Labels())
	return cliinventory.WrapInventoryInfoObj(cm)
}
