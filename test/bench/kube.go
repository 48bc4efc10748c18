package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/vworkspace/pushd/internal/testbed"
)

// metrics is a parsed Prometheus text exposition: name → summed value per
// label set, flattened to a sum by name.
type metrics map[string]float64

func parseMetrics(r io.Reader) (metrics, error) {
	m := metrics{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<22)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name := line
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			name = line[:i]
		}
		j := strings.LastIndexByte(line, ' ')
		if j < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[j+1:], 64)
		if err != nil {
			// A timestamp may follow the value.
			f := strings.Fields(line[strings.LastIndexByte(line, '}')+1:])
			if len(f) == 0 {
				continue
			}
			if v, err = strconv.ParseFloat(f[0], 64); err != nil {
				continue
			}
		}
		m[name] += v
		if name == "apiserver_request_total" && isWrite(line) {
			m[writesMetric] += v
		}
	}
	return m, sc.Err()
}

// writesMetric sums the apiserver_request_total series of writes to objects:
// a mutating verb, no dry run, and neither a lease renewal nor an access
// review (pushd's own background traffic, not a job's).
const writesMetric = "apiserver_request_total:writes"

func isWrite(line string) bool {
	labels := map[string]string{}
	if i, j := strings.IndexByte(line, '{'), strings.LastIndexByte(line, '}'); i >= 0 && j > i {
		for _, kv := range strings.Split(line[i+1:j], ",") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				labels[k] = strings.Trim(v, `"`)
			}
		}
	}
	switch labels["verb"] {
	case "POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION":
	default:
		return false
	}
	return labels["dry_run"] == "" && labels["resource"] != "leases" && !strings.HasSuffix(labels["group"], "authorization.k8s.io") &&
		!strings.HasSuffix(labels["group"], "authentication.k8s.io")
}

func (m metrics) sum(name string) (float64, bool) {
	v, ok := m[name]
	return v, ok
}

// apiServer counts the requests one test-bed API server served, from its own
// apiserver_request_total (read with the admin token).
type apiServer struct {
	c        *testbed.Cluster
	http     *http.Client
	overhead float64 // requests one scrape adds to the counter
	kube     kubernetes.Interface
}

func newAPIServer(c *testbed.Cluster) (*apiServer, error) {
	cfg := c.AdminConfig()
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	a := &apiServer{c: c, http: hc, kube: kube}
	// Calibrate: what does one scrape itself add?
	ctx := context.Background()
	x, err := a.rawCount(ctx)
	if err != nil {
		return nil, err
	}
	y, err := a.rawCount(ctx)
	if err != nil {
		return nil, err
	}
	a.overhead = y - x
	return a, nil
}

func (a *apiServer) rawCount(ctx context.Context) (float64, error) {
	m, err := a.scrape(ctx)
	if err != nil {
		return 0, err
	}
	v, _ := m.sum("apiserver_request_total")
	return v, nil
}

func (a *apiServer) scrape(ctx context.Context) (metrics, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, a.c.Host+"/metrics", nil)
	resp, err := a.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("%s /metrics: %s", a.c.Name, resp.Status)
	}
	return parseMetrics(resp.Body)
}

// counter is a snapshot to take a difference from.
type counter struct {
	a      *apiServer
	start  float64
	writes float64 // writesMetric at begin
}

func (a *apiServer) begin(ctx context.Context) counter {
	m, _ := a.scrape(ctx)
	return counter{a: a, start: m["apiserver_request_total"], writes: m[writesMetric]}
}

// writesSince is the writes to objects served since begin (a scrape is a
// GET: it adds none).
func (c counter) writesSince(ctx context.Context) float64 {
	m, _ := c.a.scrape(ctx)
	return max(m[writesMetric]-c.writes, 0)
}

// requests served since begin, without the scrapes' own.
func (c counter) end(ctx context.Context) float64 {
	v, _ := c.a.rawCount(ctx)
	d := v - c.start - c.a.overhead
	if d < 0 {
		d = 0
	}
	return d
}

// ensureNamespace creates ns (labelled managed-by=vworkspace when managed).
func (a *apiServer) ensureNamespace(ctx context.Context, ns string, managed bool) error {
	obj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
	if managed {
		obj.Labels = map[string]string{"managed-by": "vworkspace"}
	}
	_, err := a.kube.CoreV1().Namespaces().Create(ctx, obj, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// configMaps builds n ConfigMaps named prefix-0000… in ns with one data key.
func configMaps(ns, prefix string, n int, value string) []map[string]any {
	out := make([]map[string]any, n)
	for i := range out {
		out[i] = map[string]any{
			"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": fmt.Sprintf("%s-%04d", prefix, i), "namespace": ns},
			"data":     map[string]any{"value": value},
		}
	}
	return out
}
