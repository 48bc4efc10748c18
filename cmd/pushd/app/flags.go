package app

import (
	"flag"
	"fmt"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/vworkspace/pushd/pkg/config"
)

// serveFlags binds every setting to a flag and the environment variable
// beside it (see applyEnv): a flag wins over the environment, the environment
// over the built-in default.
func serveFlags(cfg *config.Config) (*flag.FlagSet, *serveExtras, map[string]string) {
	fs := flag.NewFlagSet("pushd serve", flag.ContinueOnError)
	x := &serveExtras{logLevel: "info"}
	envs := map[string]string{}
	bind := func(name, env string) { envs[name] = env }
	fs.StringVar(&cfg.Listen, "listen", cfg.Listen, "address to serve HTTP on [PUSHD_LISTEN]")
	bind("listen", "PUSHD_LISTEN")
	bindHTTPFlags(fs, cfg, bind)
	fs.StringVar(&cfg.DatabaseURL, "database-url", cfg.DatabaseURL, "sqlite://PATH or postgres://… [PUSHD_DATABASE_URL]")
	bind("database-url", "PUSHD_DATABASE_URL")
	fs.StringVar(&cfg.KubeconfigDir, "kubeconfig-dir", cfg.KubeconfigDir, "folder of <cluster-id>.kubeconfig files [PUSHD_KUBECONFIG_DIR]")
	bind("kubeconfig-dir", "PUSHD_KUBECONFIG_DIR")
	fs.StringVar(&x.webhookSecrets, "webhook-secrets", "", "space-separated [org=]whsec_… secrets that verify signed writes [PUSHD_WEBHOOK_SECRETS]")
	bind("webhook-secrets", "PUSHD_WEBHOOK_SECRETS")
	fs.StringVar(&x.apiTokens, "api-tokens", "", "space-separated [org=]token bearer tokens for reads [PUSHD_API_TOKENS]")
	bind("api-tokens", "PUSHD_API_TOKENS")
	fs.StringVar(&cfg.CallbackURL, "callback-url", "", "where signed events are POSTed; empty: no callbacks [PUSHD_CALLBACK_URL]")
	bind("callback-url", "PUSHD_CALLBACK_URL")
	fs.StringVar(&cfg.CallbackSecret, "callback-secret", "", "whsec_… secret that signs callbacks [PUSHD_CALLBACK_SECRET]")
	bind("callback-secret", "PUSHD_CALLBACK_SECRET")
	fs.Int64Var(&cfg.MaxBodyBytes, "max-body-bytes", cfg.MaxBodyBytes, "largest accepted request body in bytes [PUSHD_MAX_BODY_BYTES]")
	bind("max-body-bytes", "PUSHD_MAX_BODY_BYTES")
	fs.DurationVar(&cfg.ProbeInterval, "probe-interval", cfg.ProbeInterval, "how often each cluster is probed [PUSHD_PROBE_INTERVAL]")
	bind("probe-interval", "PUSHD_PROBE_INTERVAL")
	fs.Float64Var(&cfg.ClusterQPS, "cluster-qps", cfg.ClusterQPS, "requests per second pushd makes to one cluster (its own token bucket) [PUSHD_CLUSTER_QPS]")
	bind("cluster-qps", "PUSHD_CLUSTER_QPS")
	fs.IntVar(&cfg.ClusterBurst, "cluster-burst", cfg.ClusterBurst, "burst above --cluster-qps [PUSHD_CLUSTER_BURST]")
	bind("cluster-burst", "PUSHD_CLUSTER_BURST")
	bindAllowedKinds(fs, cfg, envs)
	fs.DurationVar(&cfg.StatusInterval, "status-interval", cfg.StatusInterval, "how often each cluster's applications are polled for their status [PUSHD_STATUS_INTERVAL]")
	bind("status-interval", "PUSHD_STATUS_INTERVAL")
	fs.DurationVar(&cfg.JobLease, "job-lease", cfg.JobLease, "how long a crashed worker's job stays claimed before it is taken up again [PUSHD_JOB_LEASE]")
	bind("job-lease", "PUSHD_JOB_LEASE")
	fs.IntVar(&cfg.JobsPerCluster, "jobs-per-cluster", cfg.JobsPerCluster, "jobs running at once on one cluster [PUSHD_JOBS_PER_CLUSTER]")
	bind("jobs-per-cluster", "PUSHD_JOBS_PER_CLUSTER")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", cfg.ShutdownTimeout, "graceful drain on SIGTERM/SIGINT [PUSHD_SHUTDOWN_TIMEOUT]")
	bind("shutdown-timeout", "PUSHD_SHUTDOWN_TIMEOUT")
	fs.StringVar(&x.logLevel, "log-level", x.logLevel, "debug, info, warn or error [PUSHD_LOG_LEVEL]")
	bind("log-level", "PUSHD_LOG_LEVEL")
	fs.StringVar(&cfg.LogFormat, "log-format", cfg.LogFormat, "text or json [PUSHD_LOG_FORMAT]")
	bind("log-format", "PUSHD_LOG_FORMAT")
	fs.BoolVar(&x.dev, "dev", false, "generate and print throw-away secrets when none are set (local tries only)")
	return fs, x, envs
}

// applyEnv sets each flag not given on the command line from its environment
// variable, through the flag's own parser, so a bad value is reported with
// the variable's name.
func applyEnv(fs *flag.FlagSet, envs map[string]string, getenv func(string) string) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for name, env := range envs {
		if v := getenv(env); v != "" && !given[name] {
			if err := fs.Set(name, v); err != nil {
				return fmt.Errorf("%s: %w", env, err)
			}
		}
	}
	return nil
}

type serveExtras struct {
	webhookSecrets, apiTokens, logLevel string
	dev                                 bool
}

// stateFlags binds --database-url and --kubeconfig-dir (and their variables).
func stateFlags(fs *flag.FlagSet, cfg *config.Config) map[string]string {
	fs.StringVar(&cfg.DatabaseURL, "database-url", cfg.DatabaseURL, "sqlite://PATH or postgres://… [PUSHD_DATABASE_URL]")
	fs.StringVar(&cfg.KubeconfigDir, "kubeconfig-dir", cfg.KubeconfigDir, "folder of <cluster-id>.kubeconfig files [PUSHD_KUBECONFIG_DIR]")
	return map[string]string{"database-url": "PUSHD_DATABASE_URL", "kubeconfig-dir": "PUSHD_KUBECONFIG_DIR"}
}

// bindAllowedKinds binds --allowed-kinds: serve and `jobs submit` must check
// jobs against the same list.
func bindAllowedKinds(fs *flag.FlagSet, cfg *config.Config, envs map[string]string) {
	fs.Func("allowed-kinds", "comma-separated Kind or Kind.group a job may write (default: ConfigMap, Secret, Service, PersistentVolumeClaim, Deployment.apps, StatefulSet.apps, Job.batch, CronJob.batch, Ingress.networking.k8s.io, Application.vworkspace.io, Operation.vworkspace.io) [PUSHD_ALLOWED_KINDS]", func(v string) error {
		cfg.AllowedKinds = splitList(v)
		return nil
	})
	envs["allowed-kinds"] = "PUSHD_ALLOWED_KINDS"
}

// groupKinds parses "Kind" or "Kind.group" entries; nil means the default list.
func groupKinds(kinds []string) []schema.GroupKind {
	var out []schema.GroupKind
	for _, k := range kinds {
		out = append(out, schema.ParseGroupKind(k))
	}
	return out
}

// bindHTTPFlags binds the transport's settings: TLS, proxies, limits.
func bindHTTPFlags(fs *flag.FlagSet, cfg *config.Config, bind func(name, env string)) {
	fs.StringVar(&cfg.TLSCertFile, "tls-cert-file", cfg.TLSCertFile, "PEM certificate (chain) to serve HTTPS with; re-read when it changes [PUSHD_TLS_CERT_FILE]")
	bind("tls-cert-file", "PUSHD_TLS_CERT_FILE")
	fs.StringVar(&cfg.TLSKeyFile, "tls-key-file", cfg.TLSKeyFile, "PEM private key of --tls-cert-file [PUSHD_TLS_KEY_FILE]")
	bind("tls-key-file", "PUSHD_TLS_KEY_FILE")
	fs.Func("trusted-proxies", "comma-separated CIDRs of TLS-terminating proxies whose X-Forwarded-For/-Proto are believed [PUSHD_TRUSTED_PROXIES]", func(v string) error {
		p, err := config.ParseCIDRs(v)
		cfg.TrustedProxies = p
		return err
	})
	bind("trusted-proxies", "PUSHD_TRUSTED_PROXIES")
	fs.BoolVar(&cfg.InsecureHTTP, "insecure-http", false, "serve plain HTTP on a non-loopback address without a trusted proxy (credentials in clear) [PUSHD_INSECURE_HTTP]")
	bind("insecure-http", "PUSHD_INSECURE_HTTP")
	fs.DurationVar(&cfg.ReadHeaderTimeout, "read-header-timeout", cfg.ReadHeaderTimeout, "longest time to read a request's headers [PUSHD_READ_HEADER_TIMEOUT]")
	bind("read-header-timeout", "PUSHD_READ_HEADER_TIMEOUT")
	fs.DurationVar(&cfg.ReadTimeout, "read-timeout", cfg.ReadTimeout, "longest time to read a whole request, body included [PUSHD_READ_TIMEOUT]")
	bind("read-timeout", "PUSHD_READ_TIMEOUT")
	fs.DurationVar(&cfg.WriteTimeout, "write-timeout", cfg.WriteTimeout, "longest time to handle a request and write its answer [PUSHD_WRITE_TIMEOUT]")
	bind("write-timeout", "PUSHD_WRITE_TIMEOUT")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", cfg.IdleTimeout, "idle keep-alive connections are closed after this [PUSHD_IDLE_TIMEOUT]")
	bind("idle-timeout", "PUSHD_IDLE_TIMEOUT")
	fs.IntVar(&cfg.MaxHeaderBytes, "max-header-bytes", cfg.MaxHeaderBytes, "largest accepted request headers in bytes [PUSHD_MAX_HEADER_BYTES]")
	bind("max-header-bytes", "PUSHD_MAX_HEADER_BYTES")
	fs.IntVar(&cfg.MaxConcurrentRequests, "max-concurrent-requests", cfg.MaxConcurrentRequests, "requests handled at once; more get 503 [PUSHD_MAX_CONCURRENT_REQUESTS]")
	bind("max-concurrent-requests", "PUSHD_MAX_CONCURRENT_REQUESTS")
}
