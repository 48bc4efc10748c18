package app

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
)

// healthcheckCmd is `pushd healthcheck`: it asks the daemon configured by
// the same flags and environment as serve for /healthz on loopback and
// fails unless it answers 200 within five seconds. It exists for the container image's HEALTHCHECK: the
// distroless base has no shell and no curl.
//
// With TLS the server's certificate is not verified against a CA (the one
// mounted may not name 127.0.0.1); instead its leaf must be the first
// certificate of --tls-cert-file, which proves the answer comes from this
// pushd and not from whatever else holds the port.
type healthcheckCmd struct {
	serveSettings
}

func (c *healthcheckCmd) run(ctx context.Context, x *call) error {
	cfg := c.cfg
	_, port, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return fmt.Errorf("healthcheck: listen %q: %w", cfg.Listen, err)
	}
	scheme, transport := "http", &http.Transport{}
	if cfg.TLSCertFile != "" {
		leaf, err := firstCertificate(cfg.TLSCertFile)
		if err != nil {
			return fmt.Errorf("healthcheck: %w", err)
		}
		scheme = "https"
		transport.TLSClientConfig = &tls.Config{
			InsecureSkipVerify: true, // replaced by the leaf comparison below
			VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
				if len(raw) == 0 || !bytes.Equal(raw[0], leaf) {
					return errors.New("the server's certificate is not --tls-cert-file's")
				}
				return nil
			},
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	url := scheme + "://" + net.JoinHostPort("127.0.0.1", port) + "/healthz"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: transport}).Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s", url, resp.Status)
	}
	fmt.Fprintln(x.io.out, "ok")
	return nil
}

// firstCertificate is the DER of the first certificate in a PEM file.
func firstCertificate(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	for {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			return nil, fmt.Errorf("%s: no certificate", path)
		}
		if b.Type == "CERTIFICATE" {
			return b.Bytes, nil
		}
	}
}
