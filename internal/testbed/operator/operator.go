// Package operator is a stand-in for vWorkspace's in-cluster operator, for
// tests only. It installs test CRDs (Application and Operation in
// vworkspace.io/v1alpha1, with status subresources) and reconciles them the way
// a real controller reports progress to kstatus:
//
//  1. a new generation gets status.observedGeneration and Reconciling=True
//     at once (kstatus: InProgress);
//  2. after a delay, the outcome named by the object's annotations:
//     ready (default) → Ready=True (Current); fail → Stalled=True with a
//     message (Failed); hang → stays Reconciling forever (InProgress).
//
// Annotations: testbed.vworkspace.io/outcome (ready|fail|hang),
// testbed.vworkspace.io/delay (a Go duration), testbed.vworkspace.io/message.
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

	OutcomeReady = "ready"
	OutcomeFail  = "fail"
	OutcomeHang  = "hang"
)

var (
	Applications = schema.GroupVersionResource{Group: Group, Version: Version, Resource: "applications"}
	Operations   = schema.GroupVersionResource{Group: Group, Version: Version, Resource: "operations"}
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
	queue   workqueue.TypedRateLimitingInterface[key]
	listers map[schema.GroupVersionResource]cache.GenericLister

	mu      sync.Mutex
	readyAt map[key]time.Time // when the current generation's outcome is due
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
	return &Operator{
		dyn:     dyn,
		opts:    opts,
		queue:   workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[key]()),
		listers: map[schema.GroupVersionResource]cache.GenericLister{},
		readyAt: map[key]time.Time{},
	}, nil
}

// Run reconciles until ctx ends. The CRDs must be installed.
func (o *Operator) Run(ctx context.Context) {
	defer o.queue.ShutDown()
	factory := dynamicinformer.NewDynamicSharedInformerFactory(o.dyn, 0)
	for _, gvr := range []schema.GroupVersionResource{Applications, Operations} {
		inf := factory.ForResource(gvr)
		o.listers[gvr] = inf.Lister()
		enqueue := func(obj any) {
			if u, ok := obj.(*unstructured.Unstructured); ok {
				o.queue.Add(key{gvr, u.GetNamespace(), u.GetName()})
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
	gen := u.GetGeneration()
	observed, _, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
	reconciling := conditionStatus(u, "Reconciling") == "True"
	now := time.Now()

	if observed != gen {
		delay := o.opts.Delay
		if d, err := time.ParseDuration(u.GetAnnotations()[DelayAnnotation]); err == nil {
			delay = d
		}
		o.mu.Lock()
		o.readyAt[k] = now.Add(delay)
		o.mu.Unlock()
		setStatus(u, gen, condition("Reconciling", "True", "Progressing", "reconciling generation"),
			condition("Ready", "False", "Progressing", "reconciling generation"))
		if _, err := o.dyn.Resource(k.gvr).Namespace(k.namespace).UpdateStatus(ctx, u, metav1.UpdateOptions{}); err != nil {
			return 0, err
		}
		return delay, nil
	}
	if !reconciling {
		return 0, nil // this generation has its outcome
	}
	outcome := u.GetAnnotations()[OutcomeAnnotation]
	if outcome == OutcomeHang {
		return 0, nil
	}
	o.mu.Lock()
	due, ok := o.readyAt[k]
	if !ok { // the operator restarted mid-way: start the delay again
		due = now.Add(o.opts.Delay)
		o.readyAt[k] = due
	}
	o.mu.Unlock()
	if wait := due.Sub(now); wait > 0 {
		return wait, nil
	}
	switch outcome {
	case OutcomeFail:
		msg := u.GetAnnotations()[MessageAnnotation]
		if msg == "" {
			msg = "the stand-in operator was told to fail this object"
		}
		setStatus(u, gen, condition("Stalled", "True", "TestbedFailure", msg), condition("Ready", "False", "TestbedFailure", msg))
	default:
		setStatus(u, gen, condition("Ready", "True", "Reconciled", "reconciled by the stand-in operator"))
	}
	if _, err := o.dyn.Resource(k.gvr).Namespace(k.namespace).UpdateStatus(ctx, u, metav1.UpdateOptions{}); err != nil {
		return 0, err
	}
	o.mu.Lock()
	delete(o.readyAt, k)
	o.mu.Unlock()
	return 0, nil
}

func condition(typ, status, reason, message string) map[string]any {
	return map[string]any{
		"type": typ, "status": status, "reason": reason, "message": message,
		"lastTransitionTime": time.Now().UTC().Format(time.RFC3339),
	}
}

func setStatus(u *unstructured.Unstructured, gen int64, conds ...map[string]any) {
	list := make([]any, len(conds))
	for i, c := range conds {
		list[i] = c
	}
	u.Object["status"] = map[string]any{"observedGeneration": gen, "conditions": list}
}

func conditionStatus(u *unstructured.Unstructured, typ string) string {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == typ {
			s, _ := m["status"].(string)
			return s
		}
	}
	return ""
}
