package app

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"k8s.io/klog/v2"

	"github.com/vworkspace/pushd/pkg/api"
	"github.com/vworkspace/pushd/pkg/apply"
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/config"
	"github.com/vworkspace/pushd/pkg/fleet"
	"github.com/vworkspace/pushd/pkg/health"
	"github.com/vworkspace/pushd/pkg/jobs"
	"github.com/vworkspace/pushd/pkg/leases"
	"github.com/vworkspace/pushd/pkg/observe"
	"github.com/vworkspace/pushd/pkg/outbox"
	"github.com/vworkspace/pushd/pkg/store"
	"github.com/vworkspace/pushd/pkg/ui"
	"github.com/vworkspace/pushd/pkg/ui/uistore"
	"github.com/vworkspace/pushd/pkg/webhook"
	"github.com/vworkspace/pushd/pkg/workers"
)

// serveCmd is `pushd serve`, the default command: the daemon.
type serveCmd struct {
	serveSettings
}

// serveSettings are the flags of `pushd serve`, which healthcheck takes too
// to find the daemon they configure.
type serveSettings struct {
	cfg config.Config
	x   serveExtras
}

func (s *serveSettings) flags(fs *flag.FlagSet) map[string]string {
	s.cfg = config.Default()
	s.x = serveExtras{logLevel: strings.ToLower(s.cfg.LogLevel.String())}
	return bindSettings(fs, scopeServe, &s.cfg, &s.x)
}

func (c *serveCmd) run(ctx context.Context, x *call) error {
	if len(x.args) > 0 {
		return hint(fmt.Errorf("serve: unexpected arguments %q", x.args), "run 'pushd help' for the commands")
	}
	cfg := c.cfg
	var err error
	if cfg.WebhookSecrets, err = config.ParseCredentials(c.x.webhookSecrets); err != nil {
		return fmt.Errorf("--webhook-secrets/PUSHD_WEBHOOK_SECRETS: %w", err)
	}
	if cfg.APITokens, err = config.ParseCredentials(c.x.apiTokens); err != nil {
		return fmt.Errorf("--api-tokens/PUSHD_API_TOKENS: %w", err)
	}
	if cfg.CallbackURLs, err = config.ParseCredentials(c.x.callbackURLs); err != nil {
		return fmt.Errorf("--callback-urls/PUSHD_CALLBACK_URLS: %w", err)
	}
	if cfg.CallbackSecrets, err = config.ParseCredentials(c.x.callbackSecrets); err != nil {
		return fmt.Errorf("--callback-secrets/PUSHD_CALLBACK_SECRETS: %w", err)
	}
	if err := cfg.LogLevel.UnmarshalText([]byte(c.x.logLevel)); err != nil {
		return fmt.Errorf("--log-level/PUSHD_LOG_LEVEL: %w", err)
	}
	if c.x.dev {
		if err := devSecrets(&cfg, x.io); err != nil {
			return err
		}
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := newLogger(x.io.err, cfg.LogLevel, cfg.LogFormat)
	return runServer(ctx, cfg, log)
}

// newLogger builds the process logger and routes client-go's klog into it,
// so every line pushd and its libraries print has one format.
func newLogger(w io.Writer, level slog.Level, format string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if format == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	log := slog.New(h)
	klog.SetSlogLogger(log.With("logger", "klog"))
	return log
}

// runServer wires the daemon from cfg and serves until ctx ends. It binds
// its port first: a second pushd on a busy port must fail before it starts
// workers and probes against the shared database.
func runServer(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	listen := api.ListenOptions{
		Addr: cfg.Listen, TLSCertFile: cfg.TLSCertFile, TLSKeyFile: cfg.TLSKeyFile,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout, ReadTimeout: cfg.ReadTimeout, WriteTimeout: cfg.WriteTimeout, IdleTimeout: cfg.IdleTimeout,
		MaxHeaderBytes: cfg.MaxHeaderBytes, ShutdownTimeout: cfg.ShutdownTimeout,
	}
	ln, err := api.Listen(listen, log.With("component", "api"))
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	defer ln.Close()
	var metricsLn net.Listener
	if cfg.MetricsListen != "" {
		// Bound as early as the API's port, for the same reason.
		if metricsLn, err = net.Listen("tcp", cfg.MetricsListen); err != nil {
			return fmt.Errorf("metrics-listen %s: %w", cfg.MetricsListen, err)
		}
		defer metricsLn.Close()
	}
	db, err := config.ParseDatabaseURL(cfg.DatabaseURL)
	if err != nil {
		return err
	}
	keys, err := cfg.ManifestKeyring()
	if err != nil {
		return err
	}
	if db.Driver == "sqlite" && db.DSN != ":memory:" {
		// One pushd per SQLite file: a second one stops here, naming the first.
		lock, err := store.LockSQLite(db.DSN)
		if err != nil {
			return err
		}
		defer lock.Close()
	}
	st, err := store.Open(ctx, db.Driver, db.DSN, store.Options{Logger: log.With("component", "store"), ManifestKeys: keys})
	if err != nil {
		return err
	}
	defer st.Close()
	if st.Driver() == "sqlite" {
		if err := endDeadRun(ctx, st, log); err != nil {
			return err
		}
	}
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
	if cfg.MetricsToken == "" && cfg.MetricsListen == "" {
		log.Warn("no --metrics-token nor --metrics-listen: /metrics refuses every scrape")
	}
	auth, err := api.NewAuthenticator(cfg.WebhookSecrets, cfg.APITokens, nil)
	if err != nil {
		return err
	}
	registry := clusters.NewRegistry(st, creds, clusters.RegistryOptions{
		Logger:  log.With("component", "clusters"),
		Clients: clusters.ClientOptions{QPS: float32(cfg.ClusterQPS), Burst: cfg.ClusterBurst},
	})
	// Replicas on one PostgreSQL share the clusters' probes, polls and
	// drift checks through leases; on SQLite the one process holds them all.
	keeper := leases.NewKeeper(st, registry, leases.Options{Duration: cfg.ClusterLease, Logger: log.With("component", "leases")})
	monitor := health.NewMonitor(registry, st, health.MonitorOptions{Interval: cfg.ProbeInterval, Assigner: keeper, Logger: log.With("component", "monitor")})

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	health.RegisterGauges(reg, monitor)
	leases.RegisterGauges(reg, keeper)
	jobs.RegisterQueueGauges(reg, st)
	reg.MustRegister(workers.Panics)

	// Callbacks: events are written to the outbox either way (the UI and
	// the API show them); each is sent only to its organization's receiver.
	notifyOutbox := func() {}
	var deliverer *outbox.Deliverer
	callbacks, err := cfg.Callbacks()
	if err != nil {
		return err
	}
	if len(callbacks) > 0 {
		receivers := map[string]outbox.Receiver{}
		for _, cb := range callbacks {
			secret, err := webhook.ParseSecret(cb.Secret)
			if err != nil {
				return fmt.Errorf("callback-secrets: organization %q: %w", cb.Organization, err)
			}
			receivers[cb.Organization] = outbox.Receiver{URL: cb.URL, Secret: secret}
		}
		deliverer = outbox.ForOrganizations(st, receivers, outbox.Options{Logger: log.With("component", "outbox"), Metrics: outbox.NewMetrics(reg)})
		outbox.RegisterParkedGauge(reg, st)
		outbox.RegisterBacklogGauges(reg, st, nil)
		notifyOutbox = deliverer.Notify
		if orgs := cfg.OrganizationsWithoutCallback(); len(orgs) > 0 {
			log.Warn("organizations without a callback receiver: their events are kept and retried, never sent to another's; give each its own in --callback-urls and --callback-secrets", "organizations", orgs)
		}
	} else {
		log.Warn("no --callback-urls: events are recorded but not sent to Odoo")
	}
	runner := jobs.NewRunner(st, registry, jobs.EnginesOf(apply.NewEngines(registry, apply.Options{Logger: log.With("component", "jobs")})), monitor, jobs.RunnerOptions{
		Lease: cfg.JobLease, PerCluster: cfg.JobsPerCluster, Logger: log.With("component", "jobs"), Notify: notifyOutbox,
		Metrics: jobs.NewMetrics(reg), AllowedKinds: groupKinds(cfg.AllowedKinds),
	})
	jobService := jobs.NewService(st, registry, monitor, jobs.ServiceOptions{AllowedKinds: groupKinds(cfg.AllowedKinds), Notify: func() { runner.Notify(); notifyOutbox() }})
	watcher := observe.NewWatcher(st, registry, monitor, observe.Options{
		PollInterval: cfg.StatusInterval, Corrector: jobService, Notify: notifyOutbox, Assigner: keeper, Logger: log.With("component", "observe"),
	})

	fl := fleet.New(registry, monitor, jobService, fleet.Options{Observations: watcher})
	deps := api.Deps{Auth: auth, Store: st, Clusters: registry, Health: monitor, Jobs: jobService, Fleet: fl, Inventory: watcher}
	if deliverer != nil {
		deps.Callbacks = deliverer // a nil *Deliverer would be a non-nil interface
	}
	srv := api.New(deps, api.Options{
		Logger:                log.With("component", "api"),
		Registry:              reg,
		MetricsToken:          cfg.MetricsToken,
		MaxBodyBytes:          cfg.MaxBodyBytes,
		MaxConcurrentRequests: cfg.MaxConcurrentRequests,
		TrustedProxies:        cfg.TrustedProxies,
		Ready: []api.Check{
			{Name: "database", Check: st.Ping},
			{Name: "workers", Check: runner.Started},
		},
	})
	uiStore := uistore.New(st)
	uiDeps := ui.Deps{Front: srv, Auth: auth, Clusters: registry, Health: monitor, Jobs: jobService, Manifests: jobService, Clients: registry,
		Inventory: watcher, Events: uiStore, Audit: uiStore, Sessions: uiStore}
	if deliverer != nil {
		uiDeps.Callbacks = uistore.Callbacks{Outbox: deliverer}
	}
	srv.Mount("/ui", ui.New(uiDeps, ui.Options{Logger: log.With("component", "ui")}))
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	wg.Go(func() { keeper.Run(ctx) })
	wg.Go(func() { monitor.Run(ctx) })
	wg.Go(func() { runner.Run(ctx) })
	wg.Go(func() { watcher.Run(ctx) })
	janitor := fleet.NewJanitor(st, fleet.JanitorOptions{CallbacksOff: deliverer == nil, Logger: log})
	retention := fleet.NewRetention(st, cfg.JobRetention, fleet.RetentionOptions{Registerer: reg, Logger: log.With("component", "retention")})
	wg.Go(func() { janitor.Run(ctx) })
	wg.Go(func() { retention.Run(ctx) })
	if deliverer != nil {
		wg.Go(func() { deliverer.Run(ctx) })
	}
	if metricsLn != nil {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", srv.MetricsHandler())
		metricsOpts := listen
		metricsOpts.Addr, metricsOpts.TLSCertFile, metricsOpts.TLSKeyFile = cfg.MetricsListen, "", ""
		wg.Go(func() {
			if err := api.ServeHandler(ctx, metricsLn, mux, metricsOpts, log.With("component", "metrics")); err != nil {
				log.Error("metrics listener stopped", "addr", cfg.MetricsListen, "err", err)
			}
		})
		log.Info("serving metrics", "addr", metricsLn.Addr().String())
	}
	log.Info("pushd starting", "version", version(), "listen", cfg.Listen, "tls", cfg.TLSCertFile != "", "database", st.Driver(), "kubeconfig_dir", cfg.KubeconfigDir,
		"replica", keeper.Replica())
	if cfg.InsecureHTTP && cfg.TLSCertFile == "" {
		log.Warn("--insecure-http: tokens, signatures and kubeconfigs cross the network in clear")
	}
	scheme := "http"
	if cfg.TLSCertFile != "" {
		scheme = "https"
	}
	log.Info("serving", "addr", ln.Addr().String(), "ui", scheme+"://"+ln.Addr().String()+"/ui/")
	err = srv.Serve(ctx, ln, listen)
	log.Info("pushd stopped")
	return err
}

// endDeadRun voids what a killed previous run left in progress. Only one
// process uses a SQLite file, so whatever is marked in progress as this one
// starts is a dead process's: its callback claims, which would hold each
// cluster's later callbacks back for the whole delivery lease, and its
// signed writes, whose retries would be answered 409 request_in_progress
// until the mark is two minutes old. (Jobs it claimed are taken up again
// after their short lease, PUSHD_JOB_LEASE.)
func endDeadRun(ctx context.Context, st *store.Store, log *slog.Logger) error {
	claims, err := st.ReleaseEventClaims(ctx)
	if err != nil {
		return fmt.Errorf("release the callback claims of a previous run: %w", err)
	}
	writes, err := st.ForgetUnfinishedMessages(ctx)
	if err != nil {
		return fmt.Errorf("forget the unfinished writes of a previous run: %w", err)
	}
	if claims > 0 || writes > 0 {
		log.Info("a previous run was killed: its callback claims are released and its unfinished writes will be acted on when retried",
			"callback_claims", claims, "unfinished_writes", writes)
	}
	return nil
}
