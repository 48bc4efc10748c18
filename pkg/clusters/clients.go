package clusters

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/util/flowcontrol"
)

// Defaults of ClientOptions (and of pushd serve's --cluster-qps and
// --cluster-burst, pkg/config).
const (
	DefaultQPS   = 500
	DefaultBurst = 1000
	// DefaultMaxResponseBytes is ClientOptions.MaxResponseBytes's default:
	// several times the largest answers of a real API server pushd reads,
	// OpenAPI documents of a few MiB (README, Security model), and ten
	// objects of etcd's 1.5 MiB at most.
	DefaultMaxResponseBytes = 16 << 20
)

// ClientOptions bound what pushd asks of one cluster.
type ClientOptions struct {
	// QPS and Burst are the cluster's own client-side rate limit, shared by
	// every client built from it. Defaults 500 and 1000 (client-go's are 5
	// and 10): a ceiling against runaway loops; the API server's Priority
	// and Fairness paces normal work (see config.Config.ClusterQPS).
	QPS   float32
	Burst int
	// Timeout bounds each request. Default 30s.
	Timeout time.Duration
	// Logger receives the API server's warnings; discarded when nil.
	Logger *slog.Logger
	// MaxResponseBytes bounds the body of each answer from the cluster, and
	// each event of a watch stream; past it the request fails. Default
	// DefaultMaxResponseBytes.
	MaxResponseBytes int64
	// WrapTransport, when set, wraps the transport of every request to a
	// cluster (given its id): for tracing, or a test's injected faults.
	WrapTransport func(cluster string, rt http.RoundTripper) http.RoundTripper
}

func (o *ClientOptions) defaults() {
	if o.QPS == 0 {
		o.QPS = DefaultQPS
	}
	if o.Burst == 0 {
		o.Burst = DefaultBurst
	}
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxResponseBytes == 0 {
		o.MaxResponseBytes = DefaultMaxResponseBytes
	}
}

// Clients are everything pushd uses to talk to one cluster, built once per
// credential and shared by every job, probe and poll of that cluster: one
// token bucket, one connection pool, one discovery cache. Nothing here is
// shared with another cluster, so a slow or dead cluster cannot stall the others.
type Clients struct {
	ClusterID string
	// Config carries the cluster's rate limiter; copies made with
	// rest.CopyConfig share it.
	Config    *rest.Config
	HTTP      *http.Client
	Discovery discovery.CachedDiscoveryInterface
	Mapper    meta.ResettableRESTMapper
	Dynamic   dynamic.Interface
	Kube      kubernetes.Interface
}

// NewClients builds the clients of one cluster from its REST config.
func NewClients(clusterID string, cfg *rest.Config, opts ClientOptions) (*Clients, error) {
	opts.defaults()
	cfg = rest.CopyConfig(cfg)
	if cfg.Insecure {
		return nil, fmt.Errorf("cluster %q: TLS verification is always on", clusterID)
	}
	cfg.QPS, cfg.Burst = opts.QPS, opts.Burst
	cfg.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(opts.QPS, opts.Burst)
	cfg.Timeout = opts.Timeout
	cfg.UserAgent = "pushd"
	cfg.WarningHandler = WarningLogger{Log: opts.Logger.With("cluster", clusterID)}
	if wrap := opts.WrapTransport; wrap != nil {
		cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return wrap(clusterID, rt) })
	}
	// Outermost, so it also sees what a wrapper injects. On the config, not
	// only on hc: kubectl and cli-utils build clients of their own from
	// copies of it (apply's clientGetter).
	Guard(cfg, opts.MaxResponseBytes)
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("cluster %q: %w", clusterID, err)
	}
	kube, err := kubernetes.NewForConfigAndClient(cfg, hc)
	if err != nil {
		return nil, fmt.Errorf("cluster %q: %w", clusterID, err)
	}
	dc, err := discovery.NewDiscoveryClientForConfigAndClient(cfg, hc)
	if err != nil {
		return nil, fmt.Errorf("cluster %q: %w", clusterID, err)
	}
	cached := memory.NewMemCacheClient(dc)
	dyn, err := dynamic.NewForConfigAndClient(cfg, hc)
	if err != nil {
		return nil, fmt.Errorf("cluster %q: %w", clusterID, err)
	}
	return &Clients{
		ClusterID: clusterID,
		Config:    cfg,
		HTTP:      hc,
		Discovery: cached,
		Mapper:    restmapper.NewDeferredDiscoveryRESTMapper(cached),
		Dynamic:   dyn,
		Kube:      kube,
	}, nil
}

// Close releases idle connections.
func (c *Clients) Close() { c.HTTP.CloseIdleConnections() }

// WarningLogger routes API server warnings (deprecations, unknown fields)
// to Log, the cluster's own log lines, instead of klog's process-global
// output.
type WarningLogger struct{ Log *slog.Logger }

func (w WarningLogger) HandleWarningHeader(code int, agent, text string) {
	w.Log.Warn("API server warning", "code", code, "warning", text)
}
