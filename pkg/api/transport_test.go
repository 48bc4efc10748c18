package api_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vworkspace/pushd/internal/apitest"
	"github.com/vworkspace/pushd/internal/logbuf"
	"github.com/vworkspace/pushd/pkg/api"
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/config"
	"github.com/vworkspace/pushd/pkg/ui"

	"github.com/vworkspace/pushd/internal/tlstest"
)

// listening starts a bare server (authentication only, and the UI's login)
// with ListenAndServe, the way `pushd serve` does, and returns its address.
func listening(t *testing.T, opts api.Options, lo api.ListenOptions) string {
	t.Helper()
	auth, err := api.NewAuthenticator([]config.Credential{{Organization: "acme", Value: apitest.AcmeSecret}}, []config.Credential{{Organization: "acme", Value: apitest.AcmeToken}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := api.New(api.Deps{Auth: auth}, opts)
	srv.Mount("/ui", ui.New(ui.Deps{Front: srv, Auth: auth}, ui.Options{}))
	ctx, cancel := context.WithCancel(context.Background())
	addrc, done := make(chan string, 1), make(chan error, 1)
	lo.Addr, lo.ShutdownTimeout = "127.0.0.1:0", time.Second
	lo.Ready = func(a string) { addrc <- a }
	go func() { done <- srv.ListenAndServe(ctx, lo) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case a := <-addrc:
		return a
	case err := <-done:
		t.Fatalf("ListenAndServe: %v", err)
	}
	return ""
}

// A stalled body, a stalled header and an idle keep-alive are each closed
// within their timeout, not held forever.
func TestSlowClientsAreCut(t *testing.T) {
	t.Parallel()
	addr := listening(t, api.Options{}, api.ListenOptions{ReadHeaderTimeout: 500 * time.Millisecond, ReadTimeout: time.Second, IdleTimeout: time.Second})
	for _, tt := range []struct{ name, head string }{
		{"stalled login body", "POST /ui/login HTTP/1.1\r\nHost: pushd\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ntoken="},
		{"stalled header", "GET /healthz HTTP/1.1\r\nHost: pushd\r\n"},
		{"idle keep-alive", "GET /healthz HTTP/1.1\r\nHost: pushd\r\n\r\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			took, _ := rawRequest(t, addr, tt.head, 5*time.Second)
			if took > 3*time.Second {
				t.Fatalf("closed after %s, want within about a second", took)
			}
		})
	}
}

// TLS: the handshake presents the configured certificate, and a renewed one
// once the files change, without a restart.
func TestTLSServesAndReloadsCertificate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first := tlstest.WritePair(t, dir, 1, "127.0.0.1")
	addr := listening(t, api.Options{}, api.ListenOptions{TLSCertFile: filepath.Join(dir, "tls.crt"), TLSKeyFile: filepath.Join(dir, "tls.key")})
	handshake := func(trust *x509.Certificate) (*x509.Certificate, error) {
		pool := x509.NewCertPool()
		pool.AddCert(trust)
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0], nil
	}
	got, err := handshake(first)
	if err != nil || got.SerialNumber.Int64() != 1 {
		t.Fatalf("handshake: %v, serial %v", err, got)
	}
	// Plain HTTP on a TLS port is not served.
	if resp, err := http.Get("http://" + addr + "/healthz"); err == nil && resp.StatusCode == http.StatusOK {
		t.Fatal("plain HTTP answered on the TLS listener")
	}
	second := tlstest.WritePair(t, dir, 2, "127.0.0.1")
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := handshake(second)
		if err == nil && got.SerialNumber.Int64() == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("renewed certificate not served: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Behind a trusted TLS-terminating proxy the UI cookie is Secure; the same
// header from anyone else changes nothing.
func TestCookieSecureBehindTrustedProxy(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		proxies []netip.Prefix
		secure  bool
	}{
		{"trusted proxy", []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, true},
		{"untrusted sender", []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			addr := listening(t, api.Options{TrustedProxies: tt.proxies}, api.ListenOptions{})
			req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/ui/login", strings.NewReader(url.Values{"token": {apitest.AcmeToken}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("X-Forwarded-Proto", "https")
			resp, err := clientFrom("127.0.0.1").Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			cookies := resp.Cookies()
			if resp.StatusCode != http.StatusSeeOther || len(cookies) != 1 {
				t.Fatalf("login: %d, cookies %v", resp.StatusCode, cookies)
			}
			if cookies[0].Secure != tt.secure {
				t.Fatalf("cookie Secure = %v, want %v", cookies[0].Secure, tt.secure)
			}
		})
	}
}

// panicky is a registry whose List panics, as a bug in a handler would.
type panicky struct{ api.ClusterRegistry }

func (panicky) List(context.Context, string) ([]*clusters.Record, error) { panic("boom") }

// A panic in a handler becomes a 500 in the error format and one log line
// with this goroutine's stack, not a dump of every goroutine.
func TestPanicIsRecoveredIntoTheLog(t *testing.T) {
	t.Parallel()
	logs := &logbuf.Buffer{}
	auth, _ := api.NewAuthenticator(nil, []config.Credential{{Organization: "acme", Value: apitest.AcmeToken}}, nil)
	srv := httptest.NewServer(api.New(api.Deps{Auth: auth, Clusters: panicky{}}, api.Options{Logger: slog.New(slog.NewTextHandler(logs, nil))}))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/clusters", nil)
	req.Header.Set("Authorization", "Bearer "+apitest.AcmeToken)
	r := apitest.Do(t, req)
	if r.Status != http.StatusInternalServerError || r.Code(t) != "internal" {
		t.Fatalf("answer %d %s, want 500 internal", r.Status, r.Body)
	}
	out := logs.String()
	if !strings.Contains(out, "panic serving request") || !strings.Contains(out, "boom") {
		t.Fatalf("log has no panic line:\n%s", out)
	}
	if n := len(regexp.MustCompile(`goroutine \d+ \[`).FindAllString(out, -1)); n != 1 {
		t.Fatalf("log holds %d goroutine stacks, want 1:\n%s", n, out)
	}
}

// Requests beyond MaxConcurrentRequests are answered 503 overloaded at once
// (probes still answer), and oversized headers are refused.
func TestRequestsAreBounded(t *testing.T) {
	t.Parallel()
	addr := listening(t, api.Options{MaxConcurrentRequests: 1}, api.ListenOptions{MaxHeaderBytes: 8 << 10})
	// A login whose body never finishes holds the only slot.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte("POST /ui/login HTTP/1.1\r\nHost: pushd\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ntoken="))
	base := "http://" + addr
	deadline := time.Now().Add(5 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/clusters", nil)
		req.Header.Set("Authorization", "Bearer "+apitest.AcmeToken)
		r := apitest.Do(t, req)
		if r.Status == http.StatusServiceUnavailable {
			if r.Code(t) != "overloaded" || r.Header.Get("Retry-After") == "" {
				t.Fatalf("overloaded answer: %d %s Retry-After %q", r.Status, r.Body, r.Header.Get("Retry-After"))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a second request while the slot is held: %d %s, want 503", r.Status, r.Body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, _ := getStatus(t, base+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz while overloaded: %d", code)
	}
	conn.Close()

	req, _ := http.NewRequest(http.MethodGet, base+"/healthz", nil)
	req.Header.Set("X-Big", strings.Repeat("x", 64<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("64 KiB header: %d, want 431", resp.StatusCode)
	}
}

func getStatus(t *testing.T, url string) (int, error) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
