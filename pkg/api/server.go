package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	openapi "github.com/vworkspace/pushd/api"
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
	// MetricsToken is the bearer token /metrics asks for: the metrics name
	// every organization's clusters, their states, credential expiry and
	// job outcomes, so no organization's read token opens them, and
	// neither does no token at all. Empty refuses every scrape here; the
	// scraper then reads MetricsHandler on an address of its own.
	MetricsToken string
	// Ready lists what /readyz checks.
	Ready []Check
	// MaxBodyBytes bounds request bodies (413 beyond). Default 4 MiB.
	MaxBodyBytes int64
	// MaxConcurrentRequests bounds the requests handled at once; beyond it
	// answers are 503 (overloaded, Retry-After). /healthz, /readyz and
	// /metrics are not counted. Default 256.
	MaxConcurrentRequests int
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names the
	// client (for the authentication-failure limit) and whose
	// X-Forwarded-Proto: https makes the UI cookie Secure. None by default:
	// forwarded headers are then ignored.
	TrustedProxies []netip.Prefix
	// AuthFailureBurst failed authentications a client may make at once,
	// then one per AuthFailureInterval; beyond that 429. Defaults 10 and 6s.
	AuthFailureBurst    int
	AuthFailureInterval time.Duration
	// Now is the clock of the failure limit; the wall clock when nil.
	Now func() time.Time
}

// Deps are the server's required collaborators.
type Deps struct {
	Auth *Authenticator
	// Store remembers webhook-ids for idempotent writes.
	Store    *store.Store
	Clusters ClusterRegistry
	Health   ClusterHealth
	Jobs     JobService
	// Fleet replaces credentials and deletes clusters.
	Fleet Fleet
	// Inventory serves the application endpoints; nil leaves them out.
	Inventory Inventory
	// Callbacks serves the parked callbacks; nil (callbacks off) leaves
	// those endpoints out.
	Callbacks Callbacks
}

// Server is pushd's HTTP handler.
type Server struct {
	Deps
	e       *echo.Echo
	log     *slog.Logger
	opts    Options
	limiter *failureLimiter
	slots   chan struct{}
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
	if opts.MaxConcurrentRequests == 0 {
		opts.MaxConcurrentRequests = 256
	}
	if opts.AuthFailureBurst == 0 {
		opts.AuthFailureBurst = 10
	}
	if opts.AuthFailureInterval == 0 {
		opts.AuthFailureInterval = 6 * time.Second
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	s := &Server{Deps: deps, e: e, log: opts.Logger, opts: opts,
		limiter: newFailureLimiter(opts.AuthFailureInterval, opts.AuthFailureBurst, opts.Now),
		slots:   make(chan struct{}, opts.MaxConcurrentRequests)}
	e.HTTPErrorHandler = s.HandleError
	e.IPExtractor = echo.ExtractIPDirect()
	if len(opts.TrustedProxies) > 0 {
		e.IPExtractor = echo.ExtractIPFromXFFHeader(trustOnly(opts.TrustedProxies)...)
	}
	e.Use(s.bound)
	e.Use(s.instrument(opts.Registry))
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{
		StackSize: 8 << 10, DisableStackAll: true, // this goroutine's stack only, and into the log
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			s.log.Error("panic serving request", "method", c.Request().Method, "path", c.Request().URL.Path, "err", err, "stack", string(stack))
			return err
		},
	}))

	e.GET("/", func(c echo.Context) error { return c.Redirect(http.StatusSeeOther, "/ui/") })
	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", echo.WrapHandler(s.MetricsHandler()), s.requireMetricsToken)

	v1 := e.Group("/api/v1")
	v1.GET("/openapi.yaml", func(c echo.Context) error { return c.Blob(http.StatusOK, "application/yaml", openapi.OpenAPI) })
	read, write := s.requireToken, s.requireSignature
	// audit runs outside write: it records what write refuses of a known
	// caller too, and reads the caller write found.
	audit := s.Audited
	v1.GET("/clusters", s.listClusters, read)
	v1.GET("/clusters/:id", s.getCluster, read)
	v1.PUT("/clusters/:id", s.putCluster, audit(store.AuditRecordWritten, ClusterInPath), write)
	v1.DELETE("/clusters/:id", s.deleteCluster, audit(store.AuditRecordDeleted, ClusterInPath), write)
	v1.PUT("/clusters/:id/kubeconfig", s.putKubeconfig, audit(store.AuditCredentialReplaced, ClusterInPath), write)
	v1.POST("/jobs", s.submitJob, audit(store.AuditJobSubmitted, subjectInBody), write)
	v1.GET("/jobs", s.listJobs, read)
	v1.GET("/jobs/:id", s.getJob, read)
	v1.POST("/jobs/:id/cancel", s.cancelJob, audit(store.AuditJobCancelled, SubjectInPath), write)
	v1.GET("/requests/:request_id", s.getRequest, read)
	v1.POST("/requests/:request_id/cancel", s.cancelRequest, audit(store.AuditRequestCancelled, RequestInPath), write)
	v1.GET("/audit", s.listAudit, read)
	v1.GET("/audit/export", s.exportAudit, read)
	if deps.Inventory != nil {
		v1.GET("/clusters/:id/applications", s.listApplications, read)
		v1.GET("/clusters/:id/applications/:namespace/:application", s.getApplication, read)
		v1.GET("/clusters/:id/applications/:namespace/:application/history", s.applicationHistory, read)
		v1.POST("/clusters/:id/drift-checks", s.requestDriftCheck, audit(store.AuditDriftCheckRequested, ClusterInPath), write)
	}
	if deps.Callbacks != nil {
		v1.GET("/callbacks/parked", s.listParkedCallbacks, read)
		v1.POST("/callbacks/:id/resend", s.resendCallback, audit(store.AuditCallbackResent, SubjectInPath), write)
	}
	return s
}

// MetricsHandler serves the metrics to anyone who reaches it, for an
// address of their own that only the scraper reaches (a loopback address, a
// pod port behind a network policy: pushd serve's --metrics-listen);
// /metrics of the server itself asks for MetricsToken.
func (s *Server) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(s.opts.Registry, promhttp.HandlerOpts{})
}

var errMetricsUnauthenticated = &Error{Status: http.StatusUnauthorized, Code: "unauthenticated", Message: "missing or invalid metrics token"}

// requireMetricsToken lets through the scraper's token only. It is compared
// as API tokens are (by SHA-256, in constant time), and a wrong one counts
// against the client's failure allowance like any credential.
func (s *Server) requireMetricsToken(next echo.HandlerFunc) echo.HandlerFunc {
	var want [sha256.Size]byte
	if s.opts.MetricsToken != "" {
		want = sha256.Sum256([]byte(s.opts.MetricsToken))
	}
	return func(c echo.Context) error {
		tok, ok := strings.CutPrefix(c.Request().Header.Get(echo.HeaderAuthorization), "Bearer ")
		got := sha256.Sum256([]byte(tok))
		if !ok || tok == "" || s.opts.MetricsToken == "" || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			return s.refuse(c, errMetricsUnauthenticated)
		}
		return next(c)
	}
}

// Mount serves h at prefix and everything under it, inside the server's
// middleware: the concurrency bound, the metrics and the recovery from
// panics. pushd serve mounts the web UI (pkg/ui) at /ui so. h names the
// route it served a request by with SetRoute, for the metrics.
func (s *Server) Mount(prefix string, h http.Handler) {
	serve := func(c echo.Context) error {
		route := new(string)
		req := c.Request()
		h.ServeHTTP(c.Response(), req.WithContext(context.WithValue(req.Context(), routeKey{}, route)))
		if *route != "" {
			c.Set(mountedRouteKey, *route)
		}
		return nil
	}
	s.e.Any(prefix, serve)
	s.e.Any(prefix+"/*", serve)
}

// routeKey holds, in the context of a request to a mounted handler, where
// that handler writes the route it served the request by.
type routeKey struct{}

// mountedRouteKey holds the route a mounted handler named.
const mountedRouteKey = "pushd.mounted_route"

// SetRoute names the route pattern (as "/ui/jobs/:id", never the raw path)
// a handler mounted with Mount served r by: the metrics count the request
// under it. Outside a mounted handler it does nothing.
func SetRoute(r *http.Request, route string) {
	if p, ok := r.Context().Value(routeKey{}).(*string); ok {
		*p = route
	}
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
			if r, ok := c.Get(mountedRouteKey).(string); ok {
				route = r
			}
			if route == "" {
				route = "unmatched"
			}
			requests.WithLabelValues(c.Request().Method, route, strconv.Itoa(c.Response().Status)).Inc()
			latency.WithLabelValues(c.Request().Method, route).Observe(time.Since(start).Seconds())
			return nil
		}
	}
}
