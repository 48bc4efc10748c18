package clusters_test

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"

	"github.com/vworkspace/pushd/pkg/clusters"
)

// testBound is the answer bound of hostileClients: small, so a test's
// answers need not be large to pass it.
const testBound = 64 << 10

// hostileClients are a cluster's clients for a TLS API server of the test's
// own, on loopback, answering with handler.
func hostileClients(t *testing.T, handler http.Handler) *clusters.Clients {
	t.Helper()
	srv := httptest.NewTLSServer(handler)
	t.Cleanup(srv.Close)
	cfg := &rest.Config{Host: srv.URL, BearerToken: "token-of-the-hostile-cluster",
		TLSClientConfig: rest.TLSClientConfig{CAData: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})}}
	c, err := clusters.NewClients("hostile", cfg, clusters.ClientOptions{MaxResponseBytes: testBound, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

var configMaps = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}

// TestNoClientFollowsRedirects: each way pushd talks to a cluster — the
// typed, dynamic and discovery clients, the raw HTTP client, a watch, and
// a clientset built from a copy of the config as kubectl and cli-utils
// build theirs — refuses each redirect http.Client would follow; nothing
// reaches the target.
func TestNoClientFollowsRedirects(t *testing.T) {
	ctx := context.Background()
	var hits atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	t.Cleanup(target.Close)
	codes := []int{http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect}
	var n atomic.Int64
	c := hostileClients(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+r.URL.RequestURI(), codes[int(n.Add(1))%len(codes)])
	}))
	copied, err := kubernetes.NewForConfig(rest.CopyConfig(c.Config))
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]func() error{
		"typed get": func() error { _, err := c.Kube.CoreV1().Namespaces().Get(ctx, "apps", metav1.GetOptions{}); return err },
		"typed create": func() error {
			_, err := c.Kube.CoreV1().ConfigMaps("apps").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{})
			return err
		},
		"dynamic list": func() error {
			_, err := c.Dynamic.Resource(configMaps).Namespace("apps").List(ctx, metav1.ListOptions{})
			return err
		},
		"discovery": func() error { _, err := c.Discovery.ServerVersion(); return err },
		"watch": func() error {
			_, err := c.Kube.CoreV1().ConfigMaps("apps").Watch(ctx, metav1.ListOptions{})
			return err
		},
		"raw HTTP": func() error {
			resp, err := c.HTTP.Get(c.Config.Host + "/healthz")
			if err == nil {
				resp.Body.Close()
			}
			return err
		},
		"copied config": func() error { _, err := copied.CoreV1().Secrets("apps").Get(ctx, "x", metav1.GetOptions{}); return err },
	}
	for name, call := range calls {
		var redirect *clusters.RedirectError
		if err := call(); !errors.As(err, &redirect) {
			t.Errorf("%s: err = %v, want a RedirectError", name, err)
		}
	}
	if got := hits.Load(); got > 0 {
		t.Errorf("%d requests followed a redirect", got)
	}
}

// TestErrorBodiesAreStatusesOrPushdsWords: an error answered with a
// Kubernetes Status reaches the caller as the API server wrote it (apply
// reports those messages); one with any other body is the same kind of
// error in pushd's words, still transient where client-go's would be.
func TestErrorBodiesAreStatusesOrPushdsWords(t *testing.T) {
	ctx := context.Background()
	const canary, status = "canary-body-3b1f", "configmaps \"x\" is forbidden: the Status message"
	c := hostileClients(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/text"):
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, canary)
		case strings.HasSuffix(r.URL.Path, "/html"):
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, "<html>"+canary+"</html>")
		case strings.HasSuffix(r.URL.Path, "/json"):
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, `{"kind":"NotStatus","message":"`+canary+`"}`)
		case strings.HasSuffix(r.URL.Path, "/protobuf"):
			st := &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusFailure,
				Reason: metav1.StatusReasonConflict, Code: http.StatusConflict, Message: status}
			b, err := runtime.Encode(protobuf.NewSerializer(scheme.Scheme, scheme.Scheme), st)
			if err != nil {
				t.Error(err)
			}
			w.Header().Set("Content-Type", "application/vnd.kubernetes.protobuf")
			w.WriteHeader(http.StatusConflict)
			w.Write(b)
		default:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			json.NewEncoder(w).Encode(metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusFailure,
				Reason: metav1.StatusReasonForbidden, Code: http.StatusForbidden, Message: status})
		}
	}))
	get := func(name string) error {
		_, err := c.Kube.CoreV1().ConfigMaps("apps").Get(ctx, name, metav1.GetOptions{})
		return err
	}
	if err := get("status"); !apierrors.IsForbidden(err) || err.Error() != status {
		t.Errorf("Status answer: %v, want the Status's message", err)
	}
	if err := get("protobuf"); !apierrors.IsConflict(err) || err.Error() != status {
		t.Errorf("protobuf Status answer: %v, want the Status's message", err)
	}
	for name, is := range map[string]func(error) bool{"text": apierrors.IsInternalError, "html": apierrors.IsNotFound, "json": apierrors.IsInternalError} {
		err := get(name)
		if !is(err) || !apierrors.IsUnexpectedServerError(err) || strings.Contains(err.Error(), canary) || !strings.Contains(err.Error(), "without a Kubernetes Status") {
			t.Errorf("%s answer: %v", name, err)
		}
	}
}

// TestAnswersAreBounded: an answer of exactly the bound is read; one byte
// more fails, streamed or announced by its Content-Length.
func TestAnswersAreBounded(t *testing.T) {
	ctx := context.Background()
	list := `{"kind":"ConfigMapList","apiVersion":"v1","metadata":{},"items":[]}`
	c := hostileClients(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		size := testBound
		if r.URL.Query().Has("labelSelector") {
			size++
		}
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Has("fieldSelector") {
			w.Header().Set("Content-Length", strconv.Itoa(size))
		}
		// Trailing white space keeps it one JSON document.
		io.WriteString(w, list+strings.Repeat(" ", size-len(list)))
	}))
	for _, tc := range []struct {
		name string
		opts metav1.ListOptions
		fail bool
	}{
		{"at the bound", metav1.ListOptions{}, false},
		{"at the bound, announced", metav1.ListOptions{FieldSelector: "a=b"}, false},
		{"past the bound", metav1.ListOptions{LabelSelector: "a"}, true},
		{"past the bound, announced", metav1.ListOptions{LabelSelector: "a", FieldSelector: "a=b"}, true},
	} {
		_, err := c.Kube.CoreV1().ConfigMaps("apps").List(ctx, tc.opts)
		var tooLarge *clusters.ResponseTooLargeError
		if got := errors.As(err, &tooLarge); got != tc.fail || (!tc.fail && err != nil) {
			t.Errorf("%s: err = %v", tc.name, err)
		}
	}
}

// TestWatchEventsAreBoundedOneByOne: a watch stream is bounded per event,
// not as a whole: many events adding up to more than the bound arrive, and
// the stream ends at the first event longer than the bound, which never does.
func TestWatchEventsAreBoundedOneByOne(t *testing.T) {
	ctx := context.Background()
	const small = 40
	event := func(name string, size int) []byte {
		cm := corev1.ConfigMap{TypeMeta: metav1.TypeMeta{Kind: "ConfigMap", APIVersion: "v1"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "apps", ResourceVersion: "1"}, Data: map[string]string{"d": strings.Repeat("x", size)}}
		raw, _ := json.Marshal(cm)
		b, _ := json.Marshal(metav1.WatchEvent{Type: string(watch.Added), Object: runtime.RawExtension{Raw: raw}})
		return append(b, '\n')
	}
	c := hostileClients(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		for i := range small {
			w.Write(event(fmt.Sprintf("small-%d", i), testBound/8))
		}
		w.Write(event("huge", testBound))
		w.Write(event("after", 1))
		w.(http.Flusher).Flush()
	}))
	w, err := c.Kube.CoreV1().ConfigMaps("apps").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var got []string
	for ev := range w.ResultChan() {
		if cm, ok := ev.Object.(*corev1.ConfigMap); ok {
			got = append(got, cm.Name)
		}
	}
	if len(got) != small || got[small-1] != fmt.Sprintf("small-%d", small-1) {
		t.Errorf("watch delivered %d ConfigMaps %v, want the %d small ones and nothing past the huge one", len(got), got, small)
	}
}
