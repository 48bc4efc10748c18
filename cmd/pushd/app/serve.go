package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/vworkspace/pushd/pkg/api"
	"github.com/vworkspace/pushd/pkg/apply"
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/config"
	"github.com/vworkspace/pushd/pkg/jobs"
	"github.com/vworkspace/pushd/pkg/observe"
	"github.com/vworkspace/pushd/pkg/outbox"
	"github.com/vworkspace/pushd/pkg/store"
	"github.com/vworkspace/pushd/pkg/webhook"
)

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
	return runServer(ctx, cfg, log)
}

// runServer wires the daemon from cfg and serves until ctx ends.
func runServer(ctx context.Context, cfg config.Config, log *slog.Logger) error {
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
		outbox.RegisterParkedGauge(reg, st)
		notifyOutbox = deliverer.Notify
	} else {
		log.Warn("no --callback-url: events are recorded but not sent to Odoo")
	}
	runner := jobs.NewRunner(st, registry, apply.NewEngines(registry, apply.Options{Logger: log.With("component", "jobs")}), monitor, jobs.RunnerOptions{
		Lease: cfg.JobLease, PerCluster: cfg.JobsPerCluster, Logger: log.With("component", "jobs"), Notify: notifyOutbox,
		Metrics: jobs.NewMetrics(reg), AllowedKinds: groupKinds(cfg.AllowedKinds),
	})
	jobService := jobs.NewService(st, registry, monitor, jobs.ServiceOptions{AllowedKinds: groupKinds(cfg.AllowedKinds), Notify: func() { runner.Notify(); notifyOutbox() }})
	watcher := observe.NewWatcher(st, registry, monitor, observe.Options{
		PollInterval: cfg.StatusInterval, Corrector: jobService, Notify: notifyOutbox, Logger: log.With("component", "observe"),
	})

	deps := api.Deps{Auth: auth, Store: st, Clusters: registry, Health: monitor, Jobs: jobService, Inventory: watcher}
	if deliverer != nil {
		deps.Callbacks = deliverer // a nil *Deliverer would be a non-nil interface
	}
	srv := api.New(deps, api.Options{
		Logger:                log.With("component", "api"),
		Registry:              reg,
		MaxBodyBytes:          cfg.MaxBodyBytes,
		MaxConcurrentRequests: cfg.MaxConcurrentRequests,
		TrustedProxies:        cfg.TrustedProxies,
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
	wg.Go(func() { janitor(ctx, st, deliverer == nil, log) })
	if deliverer != nil {
		wg.Go(func() { deliverer.Run(ctx) })
	}
	log.Info("pushd starting", "version", version(), "listen", cfg.Listen, "tls", cfg.TLSCertFile != "", "database", st.Driver(), "kubeconfig_dir", cfg.KubeconfigDir)
	if cfg.InsecureHTTP && cfg.TLSCertFile == "" {
		log.Warn("--insecure-http: tokens, signatures and kubeconfigs cross the network in clear")
	}
	err = srv.ListenAndServe(ctx, api.ListenOptions{
		Addr: cfg.Listen, TLSCertFile: cfg.TLSCertFile, TLSKeyFile: cfg.TLSKeyFile,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout, ReadTimeout: cfg.ReadTimeout, WriteTimeout: cfg.WriteTimeout, IdleTimeout: cfg.IdleTimeout,
		MaxHeaderBytes: cfg.MaxHeaderBytes, ShutdownTimeout: cfg.ShutdownTimeout,
		Ready: func(addr string) { log.Info("serving", "addr", addr) },
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

// janitor prunes remembered webhook-ids (the contract keeps them at least
// 24 hours; pushd keeps them 48), empties the manifests of deleted records'
// jobs after store.DeletedManifestRetention and, when no callback URL is set, events
// older than a week (nothing will deliver them; the outbox prunes delivered
// ones itself).
func janitor(ctx context.Context, st *store.Store, callbacksOff bool, log *slog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if n, err := st.PruneMessages(ctx, time.Now().Add(-48*time.Hour)); err != nil && ctx.Err() == nil {
			log.Warn("prune webhook ids", "err", err)
		} else if n > 0 {
			log.Debug("pruned webhook ids", "count", n)
		}
		if n, err := st.ForgetManifests(ctx, time.Now().Add(-store.DeletedManifestRetention)); err != nil && ctx.Err() == nil {
			log.Warn("forget deleted records' manifests", "err", err)
		} else if n > 0 {
			log.Debug("forgot deleted records' manifests", "jobs", n)
		}
		if callbacksOff {
			if n, err := st.PruneUnsentEvents(ctx, time.Now().Add(-7*24*time.Hour)); err != nil && ctx.Err() == nil {
				log.Warn("prune events", "err", err)
			} else if n > 0 {
				log.Debug("pruned events", "count", n)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
