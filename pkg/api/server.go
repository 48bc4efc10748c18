package api

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vworkspace/pushd/pkg/store"
)

// Check is one readiness condition; it returns nil when ready.
type Check struct {
	Name  string
	Check func(ctx context.Context) error
}

// Options are the server's optional knobs.
type Options struct {
	// Logger; discarded when nil.
	Logger *slog.Logger
	// Registry collects pushd's metrics and is served on /metrics. A new one when nil.
	Registry *prometheus.Registry
	// Ready lists what /readyz checks.
	Ready []Check
	// MaxBodyBytes bounds request bodies (413 beyond). Default 4 MiB.
	MaxBodyBytes int64
}

// Deps are the server's required collaborators.
type Deps struct {
	Auth *Authenticator
	// Store remembers webhook-ids for idempotent writes.
	Store    *store.Store
	Clusters ClusterRegistry
	Health   ClusterHealth
	Jobs     JobService
	// Inventory serves the application endpoints; nil leaves them out.
	Inventory Inventory
}

// Server is pushd's HTTP handler.
type Server struct {
	Deps
	e    *echo.Echo
	log  *slog.Logger
	opts Options
}

// New builds the server with its routes.
func New(deps Deps, opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	if opts.MaxBodyBytes == 0 {
		opts.MaxBodyBytes = 4 << 20
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	s := &Server{Deps: deps, e: e, log: opts.Logger, opts: opts}
	e.HTTPErrorHandler = s.handleError
	e.Use(middleware.Recover())
	e.Use(s.instrument(opts.Registry))

	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(opts.Registry, promhttp.HandlerOpts{})))

	v1 := e.Group("/api/v1")
	read, write := s.requireToken, s.requireSignature
	v1.GET("/clusters", s.listClusters, read)
	v1.GET("/clusters/:id", s.getCluster, read)
	v1.PUT("/clusters/:id", s.putCluster, write)
	v1.DELETE("/clusters/:id", s.deleteCluster, write)
	v1.PUT("/clusters/:id/kubeconfig", s.putKubeconfig, write)
	v1.POST("/jobs", s.submitJob, write)
	v1.GET("/jobs", s.listJobs, read)
	v1.GET("/jobs/:id", s.getJob, read)
	v1.POST("/jobs/:id/cancel", s.cancelJob, write)
	v1.GET("/requests/:request_id", s.getRequest, read)
	if deps.Inventory != nil {
		v1.GET("/clusters/:id/applications", s.listApplications, read)
		v1.GET("/clusters/:id/applications/:namespace/:application", s.getApplication, read)
		v1.POST("/clusters/:id/drift-checks", s.requestDriftCheck, write)
	}
	s.routesUI(e)
	return s
}

// Routes lists "METHOD /path" for every route, paths in OpenAPI form ({id}).
func (s *Server) Routes() []string {
	var out []string
	for _, r := range s.e.Routes() {
		parts := strings.Split(r.Path, "/")
		for i, p := range parts {
			if strings.HasPrefix(p, ":") {
				parts[i] = "{" + p[1:] + "}"
			}
		}
		out = append(out, r.Method+" "+strings.Join(parts, "/"))
	}
	sort.Strings(out)
	return out
}

// ServeHTTP makes Server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.e.ServeHTTP(w, r) }

func (s *Server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 5*time.Second)
	defer cancel()
	var failed []any
	for _, chk := range s.opts.Ready {
		if err := chk.Check(ctx); err != nil {
			s.log.Warn("not ready", "check", chk.Name, "err", err)
			failed = append(failed, chk.Name)
		}
	}
	if len(failed) > 0 {
		return &Error{Status: http.StatusServiceUnavailable, Code: "not_ready", Message: "pushd is not ready", Details: failed}
	}
	return c.String(http.StatusOK, "ok\n")
}

// instrument counts requests and their latency by route (the route pattern,
// never the raw path, so cluster and job ids do not explode the series).
func (s *Server) instrument(reg *prometheus.Registry) echo.MiddlewareFunc {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pushd_http_requests_total", Help: "HTTP requests served, by method, route and status code.",
	}, []string{"method", "route", "code"})
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "pushd_http_request_duration_seconds", Help: "HTTP request latency by method and route.",
		Buckets: prometheus.DefBuckets,
	}, []string{"method", "route"})
	reg.MustRegister(requests, latency)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			if err != nil {
				c.Error(err) // write the response now so its status is known
			}
			route := c.Path()
			if route == "" {
				route = "unmatched"
			}
			requests.WithLabelValues(c.Request().Method, route, strconv.Itoa(c.Response().Status)).Inc()
			latency.WithLabelValues(c.Request().Method, route).Observe(time.Since(start).Seconds())
			return nil
		}
	}
}

// ListenAndServe serves on addr until ctx ends, then drains for up to grace.
func (s *Server) ListenAndServe(ctx context.Context, addr string, grace time.Duration, ready func(addr string)) error {
	srv := &http.Server{Addr: addr, Handler: s, ReadHeaderTimeout: 10 * time.Second}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	if ready != nil {
		ready(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// ctx is done; the drain needs a context of its own.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
