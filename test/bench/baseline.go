package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/flowcontrol"

	"github.com/vworkspace/pushd/internal/testbed"
)

// countingTransport counts the requests of the clients the benchmark controls.
type countingTransport struct {
	rt http.RoundTripper
	n  atomic.Int64
}

func (t *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.n.Add(1)
	return t.rt.RoundTrip(r)
}

// rawSSA applies objs with client-go server-side apply PATCHes, `parallel`
// at a time, with no client-side rate limit. It returns the wall time and
// the requests its client sent.
func rawSSA(ctx context.Context, c *testbed.Cluster, objs []map[string]any, parallel int) (time.Duration, int64, error) {
	cfg := c.AdminConfig()
	cfg.RateLimiter = flowcontrol.NewFakeAlwaysRateLimiter()
	ct := &countingTransport{}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { ct.rt = rt; return ct })
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return 0, 0, err
	}
	bodies := make([][]byte, len(objs))
	for i, o := range objs {
		if bodies[i], err = json.Marshal(o); err != nil {
			return 0, 0, err
		}
	}
	force := true
	work := make(chan int)
	var wg sync.WaitGroup
	var firstErr atomic.Value
	start := time.Now()
	for range parallel {
		wg.Go(func() {
			for i := range work {
				md := objs[i]["metadata"].(map[string]any)
				_, err := kube.CoreV1().ConfigMaps(md["namespace"].(string)).Patch(ctx, md["name"].(string), types.ApplyPatchType, bodies[i],
					metav1.PatchOptions{FieldManager: "bench-raw", Force: &force})
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
				}
			}
		})
	}
	for i := range objs {
		work <- i
	}
	close(work)
	wg.Wait()
	d := time.Since(start)
	if err, _ := firstErr.Load().(error); err != nil {
		return d, ct.n.Load(), err
	}
	return d, ct.n.Load(), nil
}

// kubectlApply runs `kubectl apply --server-side` on objs, as one process per
// batch, all batches at once; the wall time covers every process.
func kubectlApply(ctx context.Context, c *testbed.Cluster, dir string, batches [][]map[string]any) (time.Duration, error) {
	cache := filepath.Join(dir, "kubectl-cache")
	files := make([]string, len(batches))
	for i, objs := range batches {
		// One v1 List per process: kubectl 1.32 spends ~35 ms of CPU per
		// document of a multi-document YAML (12 s for 300 here), against
		// well under a second for the same objects as a List.
		items := make([]any, len(objs))
		for k, o := range objs {
			items[k] = o
		}
		data, err := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "List", "items": items})
		if err != nil {
			return 0, err
		}
		files[i] = filepath.Join(dir, fmt.Sprintf("kubectl-%s-%d.json", testbed.RandomHex(4), i))
		if err := os.WriteFile(files[i], data, 0o644); err != nil {
			return 0, err
		}
	}
	// Warm kubectl's discovery cache first, as a user's would be.
	if out, err := exec.CommandContext(ctx, "kubectl", "--kubeconfig", c.AdminKubeconfig, "--cache-dir", cache, "api-resources").CombinedOutput(); err != nil {
		return 0, fmt.Errorf("kubectl api-resources: %v: %s", err, tail(out, 400))
	}
	start := time.Now()
	errs := make([]error, len(files))
	var wg sync.WaitGroup
	for i, f := range files {
		wg.Go(func() {
			out, err := exec.CommandContext(ctx, "kubectl", "--kubeconfig", c.AdminKubeconfig, "--cache-dir", cache,
				"apply", "--server-side", "--field-manager", "bench-kubectl", "-f", f).CombinedOutput()
			if err != nil {
				errs[i] = fmt.Errorf("kubectl apply: %v: %s", err, tail(out, 400))
			}
		})
	}
	wg.Wait()
	d := time.Since(start)
	for _, err := range errs {
		if err != nil {
			return d, err
		}
	}
	return d, nil
}
