package health_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/internal/fleettest"
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/health"
)

// hostileToken is the credential the hostile API server is given: it must
// never reach anything else.
const hostileToken = "token-of-the-hostile-cluster"

// syncBuffer is a log sink the monitor's goroutines may write at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// hostileProbe registers a cluster whose kubeconfig points at a TLS API
// server of the test's own (loopback) answering with handler, probes it
// through the monitor and returns what the probe answered and everything
// pushd kept or said of it: the status as the API answers it, the stored
// observation, the events (what callbacks deliver) and the log.
func hostileProbe(t *testing.T, handler http.Handler) (health.Status, string) {
	t.Helper()
	ctx := context.Background()
	srv := httptest.NewTLSServer(handler)
	t.Cleanup(srv.Close)
	logs := &syncBuffer{}
	f := fleettest.New(t, dbtest.Database{Driver: "sqlite", DSN: filepath.Join(t.TempDir(), "pushd.db")},
		fleettest.Options{Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	rec, _, err := f.Registry.Put(ctx, fleettest.Org, clusters.Record{ID: "hostile", AllowedNamespaces: []string{"apps"}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["c"] = &clientcmdapi.Cluster{Server: srv.URL,
		CertificateAuthorityData: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})}
	cfg.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: hostileToken}
	cfg.Contexts["x"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	kubeconfig, err := clientcmd.Write(*cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Registry.SetKubeconfig(ctx, fleettest.Org, rec.ID, kubeconfig); err != nil {
		t.Fatal(err)
	}
	st, err := f.Monitor.Check(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	observed, err := f.Monitor.Observed(ctx, rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	events, err := f.Store.Events(ctx, rec.ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	var kept strings.Builder
	for _, v := range []any{st, observed, events} {
		b, _ := json.Marshal(v)
		kept.Write(b)
	}
	kept.WriteString(logs.String())
	t.Logf("probe: %s: %.300s", st.Connectivity.State, st.Connectivity.Message)
	return st, kept.String()
}

// version is a sane /version answer.
func version(w http.ResponseWriter, r *http.Request) bool {
	if r.URL.Path != "/version" {
		return false
	}
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"major":"1","minor":"37","gitVersion":"v1.37.2"}`)
	return true
}

// TestProbeFollowsNoRedirect: an API server that redirects every request
// (here to a plain-HTTP server on loopback answering a canary) gets its
// probe failed in pushd's words; nothing reaches the redirect's target,
// so neither does the token, and the canary is nowhere.
func TestProbeFollowsNoRedirect(t *testing.T) {
	const canary = "canary-redirected-7f3a"
	var hits, withToken atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if strings.Contains(r.Header.Get("Authorization"), hostileToken) {
			withToken.Add(1)
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"major":"1","minor":"37","gitVersion":"`+canary+`","kind":"`+canary+`"}`)
	}))
	t.Cleanup(target.Close)
	st, kept := hostileProbe(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+r.URL.RequestURI(), http.StatusFound)
	}))
	if n := hits.Load(); n > 0 {
		t.Errorf("%d requests reached the redirect's plain-HTTP target, %d of them with the token", n, withToken.Load())
	}
	if st.Connectivity.State != health.StateUnreachable || !strings.Contains(st.Connectivity.Message, "redirect") {
		t.Errorf("probe: %s %q, want unreachable naming the redirect", st.Connectivity.State, st.Connectivity.Message)
	}
	if strings.Contains(kept, canary) {
		t.Errorf("the redirect target's answer was kept: %.500s", kept)
	}
}

// TestProbeReadsAtMostTheBound: a /version answer of 400 MB is read no
// further than clusters.DefaultMaxResponseBytes and fails the probe in
// pushd's words; the memory the probe allocates stays a few times the bound.
func TestProbeReadsAtMostTheBound(t *testing.T) {
	const (
		canary = "canary-huge-91c2"
		size   = 400 << 20
	)
	var written atomic.Int64
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		chunk := bytes.Repeat([]byte("9"), 64<<10)
		n, _ := io.WriteString(w, `{"major":"1","minor":"37","gitVersion":"v1.37.`+canary)
		written.Add(int64(n))
		for written.Load() < size {
			n, err := w.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				return
			}
		}
		io.WriteString(w, `"}`)
	})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	st, kept := hostileProbe(t, handler)
	runtime.ReadMemStats(&after)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("served %d MiB, the probe allocated %d MiB", written.Load()>>20, allocated>>20)
	// What the server wrote: what pushd read and what the sockets buffered.
	if got := written.Load(); got > clusters.DefaultMaxResponseBytes+64<<20 {
		t.Errorf("the server wrote %d MiB before pushd stopped reading (bound %d MiB)", got>>20, clusters.DefaultMaxResponseBytes>>20)
	}
	if allocated > 8*clusters.DefaultMaxResponseBytes {
		t.Errorf("the probe allocated %d MiB (bound %d MiB)", allocated>>20, clusters.DefaultMaxResponseBytes>>20)
	}
	if st.Connectivity.State != health.StateUnreachable || !strings.Contains(st.Connectivity.Message, "MiB") {
		t.Errorf("probe: %s %.200q, want unreachable naming the bound", st.Connectivity.State, st.Connectivity.Message)
	}
	if strings.Contains(kept, canary) {
		t.Errorf("the huge answer was kept: %.300s", kept)
	}
}

// TestProbeDoesNotReflectAnswers: whatever an API server answers that is
// not what pushd asked for — an error with a body that is no Kubernetes
// Status, an object that is not one — the probe's message is pushd's own
// words and the HTTP status, never the body.
func TestProbeDoesNotReflectAnswers(t *testing.T) {
	const canary = "canary-xyz-5d0e"
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		state   health.State
		want    string // in the message
	}{
		{"version 500", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, canary)
		}, health.StateUnreachable, "500"},
		{"self-subject review 403", func(w http.ResponseWriter, r *http.Request) {
			if version(w, r) {
				return
			}
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, canary)
		}, health.StateUnauthorized, "403"},
		{"self-subject review 403 Status", func(w http.ResponseWriter, r *http.Request) {
			if version(w, r) {
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Forbidden","code":403,"message":"`+canary+`"}`)
		}, health.StateUnauthorized, "403"},
		{"self-subject review not one", func(w http.ResponseWriter, r *http.Request) {
			if version(w, r) {
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, `{"kind":"`+canary+`","apiVersion":"authentication.k8s.io/v1"}`)
		}, health.StateUnreachable, "SelfSubjectReview"},
		{"version not a version", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"major":"1","minor":"37","gitVersion":"`+canary+` <script>"}`)
		}, health.StateUnreachable, "version"},
		{"version too long", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"major":"1","minor":"37","gitVersion":"v1.37.2-`+strings.Repeat("x", 64)+canary+`"}`)
		}, health.StateUnreachable, "version"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, kept := hostileProbe(t, tc.handler)
			if st.Connectivity.State != tc.state || !strings.Contains(st.Connectivity.Message, tc.want) {
				t.Errorf("probe: %s %q, want %s naming %q", st.Connectivity.State, st.Connectivity.Message, tc.state, tc.want)
			}
			if strings.Contains(kept, canary) {
				t.Errorf("the answer's body was kept: %.500s", kept)
			}
		})
	}
}
