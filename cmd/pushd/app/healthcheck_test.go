package app

import (
	"bytes"
	"context"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/vworkspace/pushd/internal/tlstest"
)

// TestHealthcheckTrustsOnlyItsOwnCertificate answers /healthz from a TLS
// server on loopback: healthcheck passes when the server's certificate is
// the configured --tls-cert-file, and fails for any other server on the
// port, or a /healthz that is not 200.
func TestHealthcheckTrustsOnlyItsOwnCertificate(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	dir := t.TempDir()
	own := filepath.Join(dir, "own.crt")
	if err := os.WriteFile(own, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	// Another certificate (httptest's servers all share one).
	other := filepath.Join(dir, "other")
	if err := os.Mkdir(other, 0o700); err != nil {
		t.Fatal(err)
	}
	tlstest.WritePair(t, other, 2, "localhost")
	foreign := filepath.Join(other, "tls.crt")
	run := func(cert string) (int, string) {
		env := map[string]string{"PUSHD_LISTEN": "0.0.0.0:" + port, "PUSHD_TLS_CERT_FILE": cert, "PUSHD_TLS_KEY_FILE": "unused"}
		var out, errw bytes.Buffer
		code := Run(context.Background(), []string{"healthcheck"}, func(k string) string { return env[k] }, &out, &errw)
		return code, errw.String()
	}
	if code, msg := run(own); code != 0 {
		t.Fatalf("own certificate: exit %d: %s", code, msg)
	}
	if code, _ := run(foreign); code == 0 {
		t.Error("healthcheck passed against a server with another certificate")
	}
	status = http.StatusServiceUnavailable
	if code, _ := run(own); code == 0 {
		t.Error("healthcheck passed on a 503")
	}
}
