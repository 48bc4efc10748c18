// Package fleettest enrolls test-bed clusters with pushd the way an operator
// would — a namespace labeled managed-by=vworkspace and a least-privilege
// credential minted by bootstrap — builds job manifests and stands in for
// Odoo's callback endpoint (Receiver), for the tests of
// the packages that run jobs (pkg/jobs, pkg/observe); harness.go is the
// store, credential store, registry and job machinery they run on.
package fleettest

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/vworkspace/pushd/internal/testbed"
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/clusters/bootstrap"
)

// ManagedNamespace creates namespace name on c, labeled for pushd.
func ManagedNamespace(t testing.TB, c *testbed.Cluster, name string) {
	t.Helper()
	admin, err := kubernetes.NewForConfig(c.AdminConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: name, Labels: map[string]string{clusters.ManagedNamespaceLabel: clusters.ManagedNamespaceValue}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// AdminClient is a cluster-admin clientset of c, for test setup.
func AdminClient(t testing.TB, c *testbed.Cluster) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(c.AdminConfig())
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// Namespace creates a namespace on c with a generated name and returns
// it; managed adds the managed-by=vworkspace label.
func Namespace(t testing.TB, c *testbed.Cluster, managed bool) string {
	t.Helper()
	labels := map[string]string{}
	if managed {
		labels["managed-by"] = "vworkspace"
	}
	ns, err := AdminClient(t, c).CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "t-", Labels: labels},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// Enroll bootstraps a credential for cluster id on c, with rights in
// namespaces, and stores it. Each id gets its own ServiceAccount, so tests
// enrolling the same test-bed cluster do not revoke each other's grants.
func Enroll(t testing.TB, creds *clusters.CredentialStore, c *testbed.Cluster, id string, namespaces []string) {
	t.Helper()
	res, err := bootstrap.Run(context.Background(), c.AdminConfig(), bootstrap.Options{
		ClusterID: id, Namespaces: namespaces, ServiceAccountName: "pushd-" + id,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := creds.Save(id, res.Credential); err != nil {
		t.Fatal(err)
	}
}

// Manifest builds an object as a job carries it.
func Manifest(apiVersion, kind, name string, annotations map[string]string, extra map[string]any) json.RawMessage {
	obj := map[string]any{"apiVersion": apiVersion, "kind": kind, "metadata": map[string]any{"name": name, "annotations": annotations}}
	for k, v := range extra {
		obj[k] = v
	}
	b, _ := json.Marshal(obj)
	return b
}

// Outage stops c's API server, as an outage would, and starts it again when
// the test ends unless the test did (Start is a no-op on a running server).
func Outage(t testing.TB, c *testbed.Cluster) {
	t.Helper()
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Start(context.Background()); err != nil {
			t.Errorf("restart %s after its outage: %v", c.Name, err)
		}
	})
}

// CountRequests makes cfg count each request it sends in n (replacing any
// WrapTransport it had).
func CountRequests(cfg *rest.Config, n *atomic.Int64) {
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { return countingTransport{rt, n} }
}

type countingTransport struct {
	next http.RoundTripper
	n    *atomic.Int64
}

func (t countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.n.Add(1)
	return t.next.RoundTrip(r)
}

// FreeAddr is a TCP address free on loopback now, for a server the test
// starts (another process may take it first).
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Receiver stands in for Odoo's callback endpoint: it keeps the body of
// every request it gets, in order, and answers each with answer (200 OK
// when answer is nil). It is closed when the test ends.
type Receiver struct {
	URL    string
	mu     sync.Mutex
	bodies []string
}

// NewReceiver starts a Receiver.
func NewReceiver(t testing.TB, answer func(w http.ResponseWriter, body string)) *Receiver {
	r := &Receiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.bodies = append(r.bodies, string(b))
		r.mu.Unlock()
		if answer != nil {
			answer(w, string(b))
		}
	}))
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

// Bodies are the bodies received so far, oldest first.
func (r *Receiver) Bodies() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.bodies)
}
