package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"flag"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/vworkspace/pushd/pkg/api"
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/config"
	"github.com/vworkspace/pushd/pkg/inventory"
	"github.com/vworkspace/pushd/pkg/jobs"
	"github.com/vworkspace/pushd/pkg/outbox"
	"github.com/vworkspace/pushd/pkg/store"
	"github.com/vworkspace/pushd/pkg/webhook"
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
	fs.Func("allowed-kinds", "comma-separated Kind or Kind.group a job may write (default: ConfigMap, Secret, Service, PersistentVolumeClaim, Deployment.apps, StatefulSet.apps, Job.batch, CronJob.batch, Ingress.networking.k8s.io, Application.vworkspace.io, Operation.vworkspace.io) [PUSHD_ALLOWED_KINDS]", func(v string) error {
		cfg.AllowedKinds = splitList(v)
		return nil
	})
	bind("allowed-kinds", "PUSHD_ALLOWED_KINDS")
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

func serve(ctx context.Context, args []string, getenv func(string) string, io streams) error {
	cfg := config.Default()
	fs, x, envs := serveFlags(&cfg)
	fs.SetOutput(io.err)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := applyEnv(fs, envs, getenv); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve: unexpected arguments %q", fs.Args())
	}
	var err error
	if cfg.WebhookSecrets, err = config.ParseCredentials(x.webhookSecrets); err != nil {
		return fmt.Errorf("--webhook-secrets/PUSHD_WEBHOOK_SECRETS: %w", err)
	}
	if cfg.APITokens, err = config.ParseCredentials(x.apiTokens); err != nil {
		return fmt.Errorf("--api-tokens/PUSHD_API_TOKENS: %w", err)
	}
	if err := cfg.LogLevel.UnmarshalText([]byte(x.logLevel)); err != nil {
		return fmt.Errorf("--log-level/PUSHD_LOG_LEVEL: %w", err)
	}
	if x.dev {
		devSecrets(&cfg, io)
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := newLogger(io.err, cfg.LogLevel, cfg.LogFormat)
	return runServer(ctx, cfg, log, nil)
}

// runServer wires the daemon from cfg and serves until ctx ends. listening,
// when set, is told the bound address (tests listen on port 0).
func runServer(ctx context.Context, cfg config.Config, log *slog.Logger, listening func(addr string)) error {
	db, err := config.ParseDatabaseURL(cfg.DatabaseURL)
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, db.Driver, db.DSN, store.Options{Logger: log.With("component", "store")})
	if err != nil {
		return err
	}
	defer st.Close()
	creds, err := clusters.NewCredentialStore(cfg.KubeconfigDir)
	if err != nil {
		return err
	}
	if len(cfg.WebhookSecrets) == 0 {
		log.Warn("no --webhook-secrets: every write is refused until one is set")
	}
	if len(cfg.APITokens) == 0 {
		log.Warn("no --api-tokens: every read is refused until one is set")
	}
	auth, err := api.NewAuthenticator(cfg.WebhookSecrets, cfg.APITokens, nil)
	if err != nil {
		return err
	}
	registry := clusters.NewRegistry(st, creds, clusters.RegistryOptions{
		Logger:  log.With("component", "clusters"),
		Clients: clusters.ClientOptions{QPS: float32(cfg.ClusterQPS), Burst: cfg.ClusterBurst},
	})
	monitor := clusters.NewMonitor(registry, st, clusters.MonitorOptions{Interval: cfg.ProbeInterval, Logger: log.With("component", "monitor")})

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	// Callbacks: events are written to the outbox either way (the UI and
	// the API show them); they are sent only when a callback URL is set.
	notifyOutbox := func() {}
	var deliverer *outbox.Deliverer
	if cfg.CallbackURL != "" {
		secret, err := webhook.ParseSecret(cfg.CallbackSecret)
		if err != nil {
			return fmt.Errorf("callback-secret: %w", err)
		}
		deliverer = outbox.New(st, cfg.CallbackURL, secret, outbox.Options{Logger: log.With("component", "outbox"), Metrics: outbox.NewMetrics(reg)})
		notifyOutbox = deliverer.Notify
	} else {
		log.Warn("no --callback-url: events are recorded but not sent to Odoo")
	}
	runner := jobs.NewRunner(st, registry, monitor, jobs.RunnerOptions{
		Lease: cfg.JobLease, PerCluster: cfg.JobsPerCluster, Logger: log.With("component", "jobs"), Notify: notifyOutbox,
	})
	var allowed []schema.GroupKind
	for _, k := range cfg.AllowedKinds {
		allowed = append(allowed, schema.ParseGroupKind(k))
	}
	jobService := jobs.NewService(st, registry, monitor, jobs.ServiceOptions{AllowedKinds: allowed, Notify: func() { runner.Notify(); notifyOutbox() }})
	watcher := inventory.NewWatcher(st, registry, monitor, inventory.Options{
		PollInterval: cfg.StatusInterval, Corrector: jobService, Notify: notifyOutbox, Logger: log.With("component", "inventory"),
	})

	srv := api.New(api.Deps{Auth: auth, Store: st, Clusters: registry, Health: monitor, Jobs: jobService, Inventory: watcher}, api.Options{
		Logger:       log.With("component", "api"),
		Registry:     reg,
		MaxBodyBytes: cfg.MaxBodyBytes,
		Ready: []api.Check{
			{Name: "database", Check: st.Ping},
			{Name: "workers", Check: runner.Started},
		},
	})
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	wg.Go(func() { monitor.Run(ctx) })
	wg.Go(func() { runner.Run(ctx) })
	wg.Go(func() { watcher.Run(ctx) })
	wg.Go(func() { forgetOldMessages(ctx, st, log) })
	if deliverer != nil {
		wg.Go(func() { deliverer.Run(ctx) })
	}
	log.Info("pushd starting", "version", version(), "listen", cfg.Listen, "database", st.Driver(), "kubeconfig_dir", cfg.KubeconfigDir)
	err = srv.ListenAndServe(ctx, cfg.Listen, cfg.ShutdownTimeout, func(addr string) {
		log.Info("serving", "addr", addr)
		if listening != nil {
			listening(addr)
		}
	})
	log.Info("pushd stopped")
	return err
}

// devSecrets fills unset secrets with throw-away ones and prints them, for a
// local try; never for production (they change on every start).
func devSecrets(cfg *config.Config, io streams) {
	if len(cfg.WebhookSecrets) == 0 {
		key := make([]byte, 32)
		rand.Read(key)
		s := "whsec_" + base64.StdEncoding.EncodeToString(key)
		cfg.WebhookSecrets = []config.Credential{{Organization: config.DefaultOrganization, Value: s}}
		fmt.Fprintf(io.out, "dev: webhook secret (organization %q): %s\n", config.DefaultOrganization, s)
	}
	if len(cfg.APITokens) == 0 {
		tok := make([]byte, 24)
		rand.Read(tok)
		t := hex.EncodeToString(tok)
		cfg.APITokens = []config.Credential{{Organization: config.DefaultOrganization, Value: t}}
		fmt.Fprintf(io.out, "dev: API token (organization %q): %s\n", config.DefaultOrganization, t)
	}
	fmt.Fprintln(io.out, "dev: these secrets are throw-away; set --webhook-secrets and --api-tokens for real use")
}

// forgetOldMessages prunes remembered webhook-ids: the contract keeps them
// at least 24 hours; pushd keeps them 48.
func forgetOldMessages(ctx context.Context, st *store.Store, log *slog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if n, err := st.PruneMessages(ctx, time.Now().Add(-48*time.Hour)); err != nil && ctx.Err() == nil {
			log.Warn("prune webhook ids", "err", err)
		} else if n > 0 {
			log.Debug("pruned webhook ids", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
