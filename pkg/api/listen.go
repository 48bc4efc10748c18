package api

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// ListenOptions say how the server listens. Zero durations and sizes take
// the defaults documented on each field.
type ListenOptions struct {
	// Addr is host:port.
	Addr string
	// TLSCertFile and TLSKeyFile (PEM) turn TLS on. Both are re-read when
	// either changes, so a renewed certificate needs no restart.
	TLSCertFile, TLSKeyFile string
	// ReadHeaderTimeout bounds reading the request headers. Default 10s.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included. Default 30s.
	ReadTimeout time.Duration
	// WriteTimeout bounds handling a request and writing its answer. Default 60s.
	WriteTimeout time.Duration
	// IdleTimeout closes keep-alive connections idle this long. Default 60s.
	IdleTimeout time.Duration
	// MaxHeaderBytes caps the request headers. Default 64 KiB.
	MaxHeaderBytes int
	// ShutdownTimeout bounds the graceful drain when ctx ends.
	ShutdownTimeout time.Duration
	// Ready, if set, is called with the bound address once listening.
	Ready func(addr string)
}

func (o *ListenOptions) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&o.ReadHeaderTimeout, 10*time.Second)
	def(&o.ReadTimeout, 30*time.Second)
	def(&o.WriteTimeout, 60*time.Second)
	def(&o.IdleTimeout, 60*time.Second)
	if o.MaxHeaderBytes == 0 {
		o.MaxHeaderBytes = 64 << 10
	}
}

// ListenAndServe listens on o.Addr and serves until ctx ends.
func (s *Server) ListenAndServe(ctx context.Context, o ListenOptions) error {
	ln, err := Listen(o, s.log)
	if err != nil {
		return err
	}
	return s.Serve(ctx, ln, o)
}

// Listen binds o.Addr (with TLS when o names a certificate). The daemon
// binds before it starts anything else, so a second pushd on a busy port
// fails before it touches the shared database or the clusters.
// log hears of certificate reloads.
func Listen(o ListenOptions, log *slog.Logger) (net.Listener, error) {
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, err
	}
	if o.TLSCertFile != "" || o.TLSKeyFile != "" {
		certs, err := newCertReloader(o.TLSCertFile, o.TLSKeyFile, log)
		if err != nil {
			ln.Close()
			return nil, err
		}
		ln = tls.NewListener(ln, &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: certs.get})
	}
	return ln, nil
}

// Serve serves on ln (from Listen) until ctx ends, then drains for up to
// o.ShutdownTimeout. It closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener, o ListenOptions) error {
	return ServeHandler(ctx, ln, s, o, s.log)
}

// ServeHandler serves h on ln as Serve does, with o's timeouts and size
// caps: pushd serve serves MetricsHandler so on an address of its own.
func ServeHandler(ctx context.Context, ln net.Listener, h http.Handler, o ListenOptions, log *slog.Logger) error {
	o.defaults()
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: o.ReadHeaderTimeout,
		ReadTimeout:       o.ReadTimeout,
		WriteTimeout:      o.WriteTimeout,
		IdleTimeout:       o.IdleTimeout,
		MaxHeaderBytes:    o.MaxHeaderBytes,
		ErrorLog:          slogErrorLog(log),
	}
	if o.Ready != nil {
		o.Ready(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// ctx is done; the drain needs a context of its own.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), o.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
