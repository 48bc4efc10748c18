package app

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/vworkspace/pushd/pkg/config"
	"github.com/vworkspace/pushd/pkg/jobs"
)

// Every setting is one row of the settings table: its flag, the environment
// variable beside it, its help, which commands take it, and the field it
// sets. A flag wins over the environment, the environment over the built-in
// default (applyEnv). Binding from one table keeps a flag's name, variable
// and help from drifting apart, and lets each command show only its own.

// scope says which commands take a setting.
type scope uint8

const (
	scopeServe  scope = 1 << iota // pushd serve
	scopeState                    // every command that opens the database and credentials
	scopeSubmit                   // commands that check jobs against the allowed kinds
)

// setting is one row of the table. value returns the flag.Value bound to
// the field of cfg or x that the setting fills.
type setting struct {
	name, env, usage string
	scope            scope
	value            func(cfg *config.Config, x *serveExtras) flag.Value
}

var settings = []setting{
	{"listen", "PUSHD_LISTEN", "address to serve HTTP on", scopeServe, str(func(c *config.Config, _ *serveExtras) *string { return &c.Listen })},
	{"tls-cert-file", "PUSHD_TLS_CERT_FILE", "PEM certificate (chain) to serve HTTPS with; re-read when it changes", scopeServe, str(func(c *config.Config, _ *serveExtras) *string { return &c.TLSCertFile })},
	{"tls-key-file", "PUSHD_TLS_KEY_FILE", "PEM private key of --tls-cert-file", scopeServe, str(func(c *config.Config, _ *serveExtras) *string { return &c.TLSKeyFile })},
	{"trusted-proxies", "PUSHD_TRUSTED_PROXIES", "comma-separated CIDRs of TLS-terminating proxies whose X-Forwarded-For/-Proto are believed", scopeServe, parsed(func(c *config.Config, _ *serveExtras, v string) error {
		p, err := config.ParseCIDRs(v)
		c.TrustedProxies = p
		return err
	})},
	{"insecure-http", "PUSHD_INSECURE_HTTP", "serve plain HTTP on a non-loopback address without a trusted proxy (credentials in clear)", scopeServe, boolean(func(c *config.Config, _ *serveExtras) *bool { return &c.InsecureHTTP })},
	{"read-header-timeout", "PUSHD_READ_HEADER_TIMEOUT", "longest time to read a request's headers", scopeServe, dur(func(c *config.Config, _ *serveExtras) *time.Duration { return &c.ReadHeaderTimeout })},
	{"read-timeout", "PUSHD_READ_TIMEOUT", "longest time to read a whole request, body included", scopeServe, dur(func(c *config.Config, _ *serveExtras) *time.Duration { return &c.ReadTimeout })},
	{"write-timeout", "PUSHD_WRITE_TIMEOUT", "longest time to handle a request and write its answer", scopeServe, dur(func(c *config.Config, _ *serveExtras) *time.Duration { return &c.WriteTimeout })},
	{"idle-timeout", "PUSHD_IDLE_TIMEOUT", "idle keep-alive connections are closed after this", scopeServe, dur(func(c *config.Config, _ *serveExtras) *time.Duration { return &c.IdleTimeout })},
	{"max-header-bytes", "PUSHD_MAX_HEADER_BYTES", "largest accepted request headers in bytes", scopeServe, integer(func(c *config.Config, _ *serveExtras) *int { return &c.MaxHeaderBytes })},
	{"max-concurrent-requests", "PUSHD_MAX_CONCURRENT_REQUESTS", "requests handled at once; more get 503", scopeServe, integer(func(c *config.Config, _ *serveExtras) *int { return &c.MaxConcurrentRequests })},
	{"database-url", "PUSHD_DATABASE_URL", "sqlite://PATH or postgres://…", scopeServe | scopeState, str(func(c *config.Config, _ *serveExtras) *string { return &c.DatabaseURL })},
	{"kubeconfig-dir", "PUSHD_KUBECONFIG_DIR", "folder of <cluster-id>.kubeconfig files", scopeServe | scopeState, str(func(c *config.Config, _ *serveExtras) *string { return &c.KubeconfigDir })},
	{"webhook-secrets", "PUSHD_WEBHOOK_SECRETS", "space-separated [org=]whsec_… secrets that verify signed writes", scopeServe, str(func(_ *config.Config, x *serveExtras) *string { return &x.webhookSecrets })},
	{"api-tokens", "PUSHD_API_TOKENS", "space-separated [org=]token bearer tokens for reads", scopeServe, str(func(_ *config.Config, x *serveExtras) *string { return &x.apiTokens })},
	{"metrics-token", "PUSHD_METRICS_TOKEN", "bearer token the scraper sends for /metrics (no API token opens it); empty: /metrics refuses every scrape", scopeServe, str(func(c *config.Config, _ *serveExtras) *string { return &c.MetricsToken })},
	{"metrics-listen", "PUSHD_METRICS_LISTEN", "host:port of its own serving /metrics only, plain HTTP, without a token (loopback, or a pod port only the scraper reaches)", scopeServe, str(func(c *config.Config, _ *serveExtras) *string { return &c.MetricsListen })},
	{"callback-urls", "PUSHD_CALLBACK_URLS", "space-separated org=URL: where each organization's signed events are POSTed (its own only); empty: no callbacks", scopeServe, str(func(_ *config.Config, x *serveExtras) *string { return &x.callbackURLs })},
	{"callback-secrets", "PUSHD_CALLBACK_SECRETS", "space-separated org=whsec_… secrets, one per organization, that sign its callbacks", scopeServe, str(func(_ *config.Config, x *serveExtras) *string { return &x.callbackSecrets })},
	{"callback-url", "PUSHD_CALLBACK_URL", "the one organization's callback URL, when pushd serves one (else --callback-urls)", scopeServe, str(func(c *config.Config, _ *serveExtras) *string { return &c.CallbackURL })},
	{"callback-secret", "PUSHD_CALLBACK_SECRET", "whsec_… secret that signs --callback-url's callbacks", scopeServe, str(func(c *config.Config, _ *serveExtras) *string { return &c.CallbackSecret })},
	{"max-body-bytes", "PUSHD_MAX_BODY_BYTES", "largest accepted request body in bytes", scopeServe, i64(func(c *config.Config, _ *serveExtras) *int64 { return &c.MaxBodyBytes })},
	{"probe-interval", "PUSHD_PROBE_INTERVAL", "how often each cluster is probed", scopeServe, dur(func(c *config.Config, _ *serveExtras) *time.Duration { return &c.ProbeInterval })},
	{"cluster-qps", "PUSHD_CLUSTER_QPS", "requests per second pushd makes to one cluster (its own token bucket)", scopeServe, f64(func(c *config.Config, _ *serveExtras) *float64 { return &c.ClusterQPS })},
	{"cluster-burst", "PUSHD_CLUSTER_BURST", "burst above --cluster-qps", scopeServe, integer(func(c *config.Config, _ *serveExtras) *int { return &c.ClusterBurst })},
	{"allowed-kinds", "PUSHD_ALLOWED_KINDS", "comma-separated Kind or Kind.group a job may write (default: " + defaultKinds() + ")", scopeServe | scopeSubmit, parsed(func(c *config.Config, _ *serveExtras, v string) error {
		c.AllowedKinds = splitList(v)
		return nil
	})},
	{"status-interval", "PUSHD_STATUS_INTERVAL", "how often each cluster's applications are polled for their status", scopeServe, dur(func(c *config.Config, _ *serveExtras) *time.Duration { return &c.StatusInterval })},
	{"job-lease", "PUSHD_JOB_LEASE", "how long a crashed worker's job stays claimed before it is taken up again", scopeServe, dur(func(c *config.Config, _ *serveExtras) *time.Duration { return &c.JobLease })},
	{"cluster-lease", "PUSHD_CLUSTER_LEASE", "how long a dead replica keeps its clusters' probes, polls and drift checks before another replica takes them over (renewed every third of it)", scopeServe, dur(func(c *config.Config, _ *serveExtras) *time.Duration { return &c.ClusterLease })},
	{"jobs-per-cluster", "PUSHD_JOBS_PER_CLUSTER", "jobs running at once on one cluster", scopeServe, integer(func(c *config.Config, _ *serveExtras) *int { return &c.JobsPerCluster })},
	{"job-retention", "PUSHD_JOB_RETENTION", "finished jobs are pruned after this (each application's latest intent and jobs with undelivered events are kept)", scopeServe, dur(func(c *config.Config, _ *serveExtras) *time.Duration { return &c.JobRetention })},
	{"manifest-keys", "PUSHD_MANIFEST_KEYS", "space-separated id=base64 32-byte keys that seal stored manifests; the first seals, all open", scopeServe | scopeState, str(func(c *config.Config, _ *serveExtras) *string { return &c.ManifestKeys })},
	{"manifest-key-file", "PUSHD_MANIFEST_KEY_FILE", "file holding --manifest-keys (one id=base64 a line)", scopeServe | scopeState, str(func(c *config.Config, _ *serveExtras) *string { return &c.ManifestKeyFile })},
	{"shutdown-timeout", "PUSHD_SHUTDOWN_TIMEOUT", "graceful drain on SIGTERM/SIGINT", scopeServe, dur(func(c *config.Config, _ *serveExtras) *time.Duration { return &c.ShutdownTimeout })},
	{"log-level", "PUSHD_LOG_LEVEL", "debug, info, warn or error", scopeServe, str(func(_ *config.Config, x *serveExtras) *string { return &x.logLevel })},
	{"log-format", "PUSHD_LOG_FORMAT", "text or json", scopeServe, str(func(c *config.Config, _ *serveExtras) *string { return &c.LogFormat })},
	{"dev", "", "generate throw-away secrets when none are set and keep them in the database's folder across restarts (local tries only)", scopeServe, boolean(func(_ *config.Config, x *serveExtras) *bool { return &x.dev })},
}

// bindSettings binds the settings of scope s on fs and returns the
// environment variable of each flag bound (for applyEnv).
func bindSettings(fs *flag.FlagSet, s scope, cfg *config.Config, x *serveExtras) map[string]string {
	if x == nil {
		x = &serveExtras{}
	}
	envs := map[string]string{}
	for _, st := range settings {
		if st.scope&s == 0 {
			continue
		}
		usage := st.usage
		if st.env != "" {
			usage += " [" + st.env + "]"
			envs[st.name] = st.env
		}
		fs.Var(st.value(cfg, x), st.name, usage)
	}
	return envs
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
	callbackURLs, callbackSecrets       string
	dev                                 bool
}

// parseFlags parses a command's flags, which may come before, between or
// after its arguments (pushd clusters add ID --namespaces …), and returns
// the arguments; after "--" every word is one. It parses quietly:
// -h/--help prints the command's help and its own flags to standard output;
// a bad flag is an error of one line with a hint, never a page of usage
// before it.
func parseFlags(fs *flag.FlagSet, synopsis, help string, args []string, io streams) ([]string, error) {
	fs.SetOutput(io.discard())
	fs.Usage = func() {}
	var words []string
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			printFlags(io.out, fs, synopsis, help)
			return nil, flag.ErrHelp
		}
		if err != nil {
			return nil, hint(err, "run '"+fs.Name()+" --help' for its flags")
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return words, nil
		}
		if parsed := args[:len(args)-len(rest)]; len(parsed) > 0 && parsed[len(parsed)-1] == "--" {
			return append(words, rest...), nil
		}
		words, args = append(words, rest[0]), rest[1:]
	}
}

// printFlags writes a command's help, synopsis and flags.
func printFlags(w io.Writer, fs *flag.FlagSet, synopsis, help string) {
	fmt.Fprintf(w, "%s - %s\n\nUsage:\n  %s\n", fs.Name(), help, synopsis)
	if hasFlags(fs) {
		fmt.Fprintln(w, "\nFlags:")
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
}

// hasFlags is whether fs has any flag bound.
func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// defaultKinds lists jobs.DefaultAllowedKinds for the flag's help.
func defaultKinds() string {
	var names []string
	for _, gk := range jobs.DefaultAllowedKinds() {
		names = append(names, gk.String())
	}
	return strings.Join(names, ", ")
}

// groupKinds parses "Kind" or "Kind.group" entries; nil means the default list.
func groupKinds(kinds []string) []schema.GroupKind {
	var out []schema.GroupKind
	for _, k := range kinds {
		out = append(out, schema.ParseGroupKind(k))
	}
	return out
}

// The settings' flag values, each over a field of the configuration.

type funcValue struct {
	set func(string) error
	get func() string
	b   bool
}

func (v funcValue) Set(s string) error { return v.set(s) }
func (v funcValue) String() string {
	if v.get == nil {
		return ""
	}
	return v.get()
}
func (v funcValue) IsBoolFlag() bool { return v.b }

type field[T any] func(*config.Config, *serveExtras) *T

func str(f field[string]) func(*config.Config, *serveExtras) flag.Value {
	return func(c *config.Config, x *serveExtras) flag.Value {
		p := f(c, x)
		return funcValue{set: func(s string) error { *p = s; return nil }, get: func() string { return *p }}
	}
}

func parsed(set func(*config.Config, *serveExtras, string) error) func(*config.Config, *serveExtras) flag.Value {
	return func(c *config.Config, x *serveExtras) flag.Value {
		return funcValue{set: func(s string) error { return set(c, x, s) }}
	}
}

// number binds a field through parse and format.
func number[T any](f field[T], parse func(string) (T, error), format func(T) string) func(*config.Config, *serveExtras) flag.Value {
	return func(c *config.Config, x *serveExtras) flag.Value {
		p := f(c, x)
		return funcValue{
			set: func(s string) error {
				v, err := parse(s)
				if err != nil {
					return errors.New("invalid value") // the flag package adds the flag and the text
				}
				*p = v
				return nil
			},
			get: func() string { return format(*p) },
		}
	}
}

func dur(f field[time.Duration]) func(*config.Config, *serveExtras) flag.Value {
	return number(f, time.ParseDuration, time.Duration.String)
}

func integer(f field[int]) func(*config.Config, *serveExtras) flag.Value {
	return number(f, strconv.Atoi, strconv.Itoa)
}

func i64(f field[int64]) func(*config.Config, *serveExtras) flag.Value {
	return number(f, func(s string) (int64, error) { return strconv.ParseInt(s, 10, 64) }, func(v int64) string { return strconv.FormatInt(v, 10) })
}

func f64(f field[float64]) func(*config.Config, *serveExtras) flag.Value {
	return number(f, func(s string) (float64, error) { return strconv.ParseFloat(s, 64) },
		func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) })
}

func boolean(f field[bool]) func(*config.Config, *serveExtras) flag.Value {
	return func(c *config.Config, x *serveExtras) flag.Value {
		p := f(c, x)
		// false prints as "" so that help shows no "(default false)".
		format := func(b bool) string {
			if b {
				return "true"
			}
			return ""
		}
		v := number(func(*config.Config, *serveExtras) *bool { return p }, strconv.ParseBool, format)(c, x).(funcValue)
		v.b = true
		return v
	}
}

// splitList splits a comma-separated list, dropping empty entries.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
