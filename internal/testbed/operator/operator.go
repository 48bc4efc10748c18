// Package operator is a stand-in for the in-cluster operators pushd drives,
// for tests only. It installs test CRDs and reconciles them the way the real
// controllers report progress, so that pushd's tests judge outcomes from live
// objects shaped like the real ones.
//
// Application and Operation (vworkspace.io/v1alpha1, status subresources) are
// reported the way kstatus reads them:
//
//  1. a new generation gets status.observedGeneration and Reconciling=True
//     at once (kstatus: InProgress);
//  2. after a delay, the outcome named by the object's annotations:
//     ready (default) → Ready=True (Current); fail → Stalled=True with a
//     message (Failed); hang → stays Reconciling forever (InProgress).
//
// An Operation also follows vWorkspace's Operation contract, the conditions a
// one-shot job's outcome is judged by. While it runs it carries
// Succeeded=False and Failed=False, both with reason Running: a real operator
// writes them as soon as it picks the object up, so that "running" (both
// False) differs from "not seen by any controller yet" (no status at all).
// On ready it gets Succeeded=True and status.outputs, a map of strings taken
// from the annotation testbed.vworkspace.io/outputs (a JSON object of
// strings); on fail Failed=True with the message; hang sets neither.
//
// On both vworkspace kinds the annotation testbed.vworkspace.io/status (a
// JSON object) is merged into every status the operator writes, so a test can
// plant a canary there; planted observedGeneration, conditions and outputs
// give way to the operator's own (outputs are only a succeeded Operation's).
// An annotation that does not parse fails the object, its message naming the
// annotation.
//
// Backup (velero.io/v1) is shaped like Velero's: status.phase and counters
// only, no conditions and no observedGeneration, so kstatus calls it Current
// from the start and only a rule on status.phase can judge it. A Backup
// without a phase goes to InProgress at once, with status.progress.totalItems
// from testbed.vworkspace.io/items (default 10) and a startTimestamp; after
// the delay it takes the phase named by testbed.vworkspace.io/phase (default
// Completed, or Failed when the outcome is fail), with completionTimestamp,
// progress.itemsBackedUp and the errors and warnings counts of
// testbed.vworkspace.io/errors and testbed.vworkspace.io/warnings. Outcome
// hang leaves it InProgress; phase FailedValidation is set at once instead of
// InProgress, as Velero rejects a backup before it starts. Like Velero, the
// operator never touches a Backup again once its phase is past InProgress.
//
// Annotations common to all kinds: testbed.vworkspace.io/outcome
// (ready|fail|hang), testbed.vworkspace.io/delay (a Go duration),
// testbed.vworkspace.io/message.
//
// The operator counts the distinct objects (by metadata.uid) its informers saw
// under each name, so a test can prove pushd never created an object twice
// (see Operator.Created and For).
package operator

import (
	"context"
	"embed"
	"fmt"
	"log/slog"
	"sync"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensions "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/yaml"
)

const (
	Group   = "vworkspace.io"
	Version = "v1alpha1"

	OutcomeAnnotation = "testbed.vworkspace.io/outcome"
	DelayAnnotation   = "testbed.vworkspace.io/delay"
	MessageAnnotation = "testbed.vworkspace.io/message"
	// OutputsAnnotation is a JSON object of strings, an Operation's
	// status.outputs once it succeeds.
	OutputsAnnotation = "testbed.vworkspace.io/outputs"
	// StatusAnnotation is a JSON object merged into every status of an
	// Application or Operation.
	StatusAnnotation = "testbed.vworkspace.io/status"

	OutcomeReady = "ready"
	OutcomeFail  = "fail"
	OutcomeHang  = "hang"
)

var (
	Applications = schema.GroupVersionResource{Group: Group, Version: Version, Resource: "applications"}
	Operations   = schema.GroupVersionResource{Group: Group, Version: Version, Resource: "operations"}

	ApplicationKind = schema.GroupKind{Group: Group, Kind: "Application"}
	OperationKind   = schema.GroupKind{Group: Group, Kind: "Operation"}
)

//go:embed crds/*.yaml
var crdFiles embed.FS

// InstallCRDs creates (or updates) the test CRDs and waits until they are served.
func InstallCRDs(ctx context.Context, cfg *rest.Config) error {
	cs, err := apiextensions.NewForConfig(cfg)
	if err != nil {
		return err
	}
	entries, err := crdFiles.ReadDir("crds")
	if err != nil {
		return err
	}
	for _, e := range entries {
		data, err := crdFiles.ReadFile("crds/" + e.Name())
		if err != nil {
			return err
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.UnmarshalStrict(data, &crd); err != nil {
			return fmt.Errorf("%s: %w", e.Name(), err)
		}
		crds := cs.ApiextensionsV1().CustomResourceDefinitions()
		if _, err := crds.Create(ctx, &crd, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
			existing, err := crds.Get(ctx, crd.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			crd.ResourceVersion = existing.ResourceVersion
			_, err = crds.Update(ctx, &crd, metav1.UpdateOptions{})
			if err != nil {
				return err
			}
		} else if err != nil {
			return fmt.Errorf("create CRD %s: %w", crd.Name, err)
		}
		if err := WaitEstablished(ctx, cs, crd.Name); err != nil {
			return err
		}
	}
	return nil
}

// WaitEstablished waits, a minute at most, until the CRD name is served.
func WaitEstablished(ctx context.Context, cs apiextensions.Interface, name string) error {
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		got, err := cs.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, c := range got.Status.Conditions {
			if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("CRD %s not established: %w", name, err)
	}
	return nil
}

// Options are the operator's knobs.
type Options struct {
	// Delay between Reconciling and the outcome when the object names none. Default 500ms.
	Delay time.Duration
	// Logger; discarded when nil.
	Logger *slog.Logger
}

type key struct {
	gvr             schema.GroupVersionResource
	namespace, name string
}

// Operator reconciles the test CRDs of one cluster.
type Operator struct {
	dyn     dynamic.Interface
	opts    Options
	host    string
	queue   workqueue.TypedRateLimitingInterface[key]
	listers map[schema.GroupVersionResource]cache.GenericLister

	mu      sync.Mutex
	readyAt map[key]time.Time          // when the current generation's outcome is due
	seen    map[key]map[types.UID]bool // the objects the informers saw under each name
}

// running finds the operator of an API server by its address: the bed that
// starts the operators keeps them to itself, and a test only knows the
// cluster it talks to.
var running sync.Map // host → *Operator

// For is the operator last built by New for the API server at host (a
// rest.Config's Host, testbed.Cluster.Host), nil if none was.
func For(host string) *Operator {
	if o, ok := running.Load(host); ok {
		return o.(*Operator)
	}
	return nil
}

// Created is how many distinct objects (metadata.uid) named namespace/name of
// gvr the operator has seen since it started: each create of the name counts
// once, even if the object was deleted and created again before anyone
// looked, and a relist of the same object does not count again.
func (o *Operator) Created(gvr schema.GroupVersionResource, namespace, name string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.seen[key{gvr, namespace, name}])
}

func (o *Operator) saw(k key, uid types.UID) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.seen[k] == nil {
		o.seen[k] = map[types.UID]bool{}
	}
	o.seen[k][uid] = true
}

// New builds an operator for the cluster cfg points at (an admin credential).
func New(cfg *rest.Config, opts Options) (*Operator, error) {
	if opts.Delay == 0 {
		opts.Delay = 500 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	o := &Operator{
		dyn:     dyn,
		opts:    opts,
		host:    cfg.Host,
		queue:   workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[key]()),
		listers: map[schema.GroupVersionResource]cache.GenericLister{},
		readyAt: map[key]time.Time{},
		seen:    map[key]map[types.UID]bool{},
	}
	running.Store(cfg.Host, o)
	return o, nil
}

// Run reconciles until ctx ends. The CRDs must be installed.
func (o *Operator) Run(ctx context.Context) {
	defer o.queue.ShutDown()
	defer running.CompareAndDelete(o.host, o)
	factory := dynamicinformer.NewDynamicSharedInformerFactory(o.dyn, 0)
	for _, gvr := range []schema.GroupVersionResource{Applications, Operations, Backups} {
		inf := factory.ForResource(gvr)
		o.listers[gvr] = inf.Lister()
		// Every event records the object's uid, not only adds: after a
		// watch gap the informer reports an object deleted and created
		// again under the same name as an update of the old one.
		enqueue := func(obj any) {
			if u, ok := obj.(*unstructured.Unstructured); ok {
				k := key{gvr, u.GetNamespace(), u.GetName()}
				o.saw(k, u.GetUID())
				o.queue.Add(k)
			}
		}
		inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    enqueue,
			UpdateFunc: func(_, obj any) { enqueue(obj) },
		})
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	factory.WaitForCacheSync(ctx.Done())
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for o.next(ctx) {
			}
		})
	}
	<-ctx.Done()
	o.queue.ShutDown()
	wg.Wait()
}

func (o *Operator) next(ctx context.Context) bool {
	k, shutdown := o.queue.Get()
	if shutdown {
		return false
	}
	defer o.queue.Done(k)
	after, err := o.reconcile(ctx, k)
	switch {
	case err != nil:
		o.opts.Logger.Debug("reconcile failed", "object", k.namespace+"/"+k.name, "err", err)
		o.queue.AddRateLimited(k)
	case after > 0:
		o.queue.Forget(k)
		o.queue.AddAfter(k, after)
	default:
		o.queue.Forget(k)
	}
	return true
}

// reconcile moves one object a step along; it returns when to look again.
func (o *Operator) reconcile(ctx context.Context, k key) (time.Duration, error) {
	obj, err := o.listers[k.gvr].ByNamespace(k.namespace).Get(k.name)
	if apierrors.IsNotFound(err) {
		o.mu.Lock()
		delete(o.readyAt, k)
		o.mu.Unlock()
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	u := obj.(*unstructured.Unstructured).DeepCopy()
	if u.GetDeletionTimestamp() != nil {
		return 0, nil
	}
	if k.gvr == Backups {
		return o.reconcileBackup(ctx, k, u)
	}
	return o.reconcileKstatus(ctx, k, u)
}

// start records that k's outcome is due after the object's delay, and
// returns the delay.
func (o *Operator) start(k key, u *unstructured.Unstructured, now time.Time) time.Duration {
	delay := o.opts.Delay
	if d, err := time.ParseDuration(u.GetAnnotations()[DelayAnnotation]); err == nil {
		delay = d
	}
	o.mu.Lock()
	o.readyAt[k] = now.Add(delay)
	o.mu.Unlock()
	return delay
}

// wait is how long k's outcome is still away (≤ 0: due now).
func (o *Operator) wait(k key, now time.Time) time.Duration {
	o.mu.Lock()
	defer o.mu.Unlock()
	due, ok := o.readyAt[k]
	if !ok { // the operator restarted mid-way: start the delay again
		due = now.Add(o.opts.Delay)
		o.readyAt[k] = due
	}
	return due.Sub(now)
}

func (o *Operator) done(k key) {
	o.mu.Lock()
	delete(o.readyAt, k)
	o.mu.Unlock()
}

func (o *Operator) updateStatus(ctx context.Context, k key, u *unstructured.Unstructured) error {
	_, err := o.dyn.Resource(k.gvr).Namespace(k.namespace).UpdateStatus(ctx, u, metav1.UpdateOptions{})
	return err
}
