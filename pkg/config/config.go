// Package config holds pushd's runtime configuration: one struct with documented
// fields, their defaults and their validation. Binding to flags and environment
// variables happens in cmd/pushd only, so everything else receives a plain value.
package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/health"
	"github.com/vworkspace/pushd/pkg/jobs"
	"github.com/vworkspace/pushd/pkg/leases"
	"github.com/vworkspace/pushd/pkg/observe"
	"github.com/vworkspace/pushd/pkg/store/sealed"
)

// DefaultOrganization owns every secret or token configured without an "org=" prefix.
const DefaultOrganization = "default"

// Config is everything `pushd serve` needs to run.
type Config struct {
	// Listen is the address the HTTP server binds, host:port. A non-loopback
	// address needs TLS (TLSCertFile/TLSKeyFile) or TrustedProxies, or an
	// explicit InsecureHTTP.
	Listen string
	// TLSCertFile and TLSKeyFile are a PEM certificate (chain) and key; set
	// both to serve HTTPS. They are re-read when they change.
	TLSCertFile, TLSKeyFile string
	// TrustedProxies are the CIDRs of TLS-terminating reverse proxies in
	// front of pushd: their X-Forwarded-For names the client and their
	// X-Forwarded-Proto: https makes the UI cookie Secure.
	TrustedProxies []netip.Prefix
	// InsecureHTTP allows plain HTTP on a non-loopback address without a
	// trusted proxy: tokens and kubeconfigs then cross the network in clear.
	InsecureHTTP bool
	// ReadHeaderTimeout, ReadTimeout, WriteTimeout and IdleTimeout bound
	// reading a request's headers, reading a whole request, handling and
	// answering it, and an idle keep-alive connection.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// MaxHeaderBytes caps a request's headers.
	MaxHeaderBytes int
	// MaxConcurrentRequests bounds the requests handled at once (503 beyond).
	MaxConcurrentRequests int
	// DatabaseURL selects the store: sqlite://PATH (embedded, the default) or
	// postgres://… (production, several replicas).
	DatabaseURL string
	// KubeconfigDir holds one <cluster-id>.kubeconfig per cluster, mode 0600.
	KubeconfigDir string
	// WebhookSecrets verify signed writes (Standard Webhooks). With none, every
	// write is refused.
	WebhookSecrets []Credential
	// APITokens authenticate reads (Authorization: Bearer). With none, every
	// read is refused.
	APITokens []Credential
	// MetricsToken is the bearer token the scraper (Prometheus) sends for
	// /metrics, which lists every organization's clusters and jobs: no
	// organization's API token opens it. Empty: /metrics refuses every
	// scrape. It is a secret, at least as strong as an API token.
	MetricsToken string
	// MetricsListen, when set, is a host:port of its own that serves
	// /metrics (and nothing else) over plain HTTP to whoever reaches it,
	// for a scraper without a token: a loopback address for a local agent,
	// or a pod port only Prometheus reaches (a NetworkPolicy). The API's
	// listener still asks for MetricsToken.
	MetricsListen string
	// CallbackURLs and CallbackSecrets are each organization's callback
	// receiver: the URL its events are POSTed to and the whsec_… secret that
	// signs them, one of each per organization ("org=value" lists, parsed by
	// ParseCredentials). An organization's events go to its own receiver
	// only, so a receiver that verifies the signature knows each event is
	// its organization's. None: callbacks are off. See Callbacks.
	CallbackURLs, CallbackSecrets []Credential
	// CallbackURL and CallbackSecret are one receiver written without an
	// organization (--callback-url, --callback-secret): that of the one
	// organization the credentials name. Set them or the lists, not both.
	CallbackURL, CallbackSecret string
	// MaxBodyBytes bounds request bodies; larger ones are answered 413.
	MaxBodyBytes int64
	// ProbeInterval is how often each cluster's health is probed.
	ProbeInterval time.Duration
	// StatusInterval is how often each cluster's applications are polled.
	StatusInterval time.Duration
	// ClusterQPS and ClusterBurst are each cluster's own client-side rate
	// limit. Defaults 500 and 1000: the API server protects itself with
	// Priority and Fairness, so the client-side bucket is only a ceiling
	// against a runaway loop, not what paces normal work. A 300-object job
	// makes about 600 requests (preflight dry-run and apply per object),
	// which the burst lets through at once; at the old 50/100 the same job
	// waited out the bucket for 12 of its 16 seconds (README, Performance).
	ClusterQPS   float64
	ClusterBurst int
	// AllowedKinds are the kinds ("Kind" or "Kind.group") a job may write;
	// empty means pushd's default list.
	AllowedKinds []string
	// JobLease is how long a job stays claimed by a worker that stopped
	// renewing it (it crashed) before another takes the job up again.
	JobLease time.Duration
	// ClusterLease is how long a replica's hold on a cluster's probes,
	// polls and drift checks outlives its last renewal (renewed every
	// third of it): a dead replica's clusters are taken over within
	// ClusterLease plus a third of it.
	ClusterLease time.Duration
	// JobsPerCluster bounds the jobs running at once on one cluster.
	// Default 16: a job spends most of its time waiting on round trips
	// (cli-utils applies one object at a time), so 16 jobs keep a cluster's
	// API server busy where 4 left it mostly idle; they share the cluster's
	// rate limit, and runs on one application stay serialized.
	JobsPerCluster int
	// ShutdownTimeout bounds the graceful drain on SIGTERM/SIGINT.
	ShutdownTimeout time.Duration
	// JobRetention is how long a finished job is kept before the hourly
	// sweep prunes it (store.PruneJobs keeps, however old, each
	// application's latest intent and jobs Odoo has not heard the end of).
	// Delivered events older than it are pruned too. Default 720h (30
	// days); at least 1h.
	JobRetention time.Duration
	// ManifestKeys are the keys that seal stored manifests: space- or
	// newline-separated "id=base64" entries of 32 random bytes each, the
	// first sealing, every one opening (rotation). It is a secret; empty
	// (and no ManifestKeyFile) stores manifests plain.
	ManifestKeys string
	// ManifestKeyFile is a file holding ManifestKeys, for keys mounted from
	// a secret store; set it or ManifestKeys, not both.
	ManifestKeyFile string
	// LogLevel is the minimum level logged; client-go's klog is routed into the same logger.
	LogLevel slog.Level
	// LogFormat is "text" or "json".
	LogFormat string
}

// Callback is one organization's callback receiver.
type Callback struct {
	Organization string
	URL          string
	Secret       string // whsec_…
}

// String never prints the secret, nor the URL (it may carry a token).
func (c Callback) String() string { return c.Organization + "=<callback>" }

// Callbacks returns each organization's callback receiver, sorted by
// organization; none when callbacks are off. Every organization given a
// URL needs a secret and the other way round, one of each. A URL and secret
// written without an organization belong to DefaultOrganization — or, when
// they are the only receiver and the webhook secrets and API tokens name
// one organization, to that one (the single-organization setup keeps
// working with one URL and one secret). They are refused when the
// credentials name several organizations and none is DefaultOrganization:
// which one they are meant for is then a guess, and a wrong guess sends an
// organization's events to another's receiver. A receiver of an
// organization no credential names is refused too (a typo would leave the
// intended organization without one). An organization that has
// credentials but no receiver gets no callbacks: its events are kept,
// retried and never sent elsewhere (outbox.ForOrganizations);
// OrganizationsWithoutCallback lists them.
func (c Config) Callbacks() ([]Callback, error) {
	// Clones: the single pair's organization is filled in below.
	urls, secrets := slices.Clone(c.CallbackURLs), slices.Clone(c.CallbackSecrets)
	var errs []error
	if c.CallbackURL != "" || c.CallbackSecret != "" {
		if len(urls) > 0 || len(secrets) > 0 {
			return nil, errors.New("callback-url and callback-secret: set them or callback-urls and callback-secrets, not both")
		}
		if c.CallbackURL != "" {
			urls = []Credential{{Organization: DefaultOrganization, Value: c.CallbackURL}}
		}
		if c.CallbackSecret != "" {
			secrets = []Credential{{Organization: DefaultOrganization, Value: c.CallbackSecret}}
		}
	}
	orgs := c.Organizations()
	if len(urls) == 1 && len(secrets) == 1 && urls[0].Organization == DefaultOrganization && secrets[0].Organization == DefaultOrganization &&
		len(orgs) == 1 {
		urls[0].Organization, secrets[0].Organization = orgs[0], orgs[0]
	}
	byOrg := map[string]*Callback{}
	get := func(org string) *Callback {
		if byOrg[org] == nil {
			byOrg[org] = &Callback{Organization: org}
		}
		return byOrg[org]
	}
	for _, u := range urls {
		cb := get(u.Organization)
		if cb.URL != "" {
			errs = append(errs, fmt.Errorf("callback-urls: organization %q has more than one callback URL", u.Organization))
			continue
		}
		cb.URL = u.Value
		if p, err := url.Parse(u.Value); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			// Not quoted: a callback URL may carry a token.
			errs = append(errs, fmt.Errorf("callback-urls: the URL of organization %q must be an absolute http(s) URL", u.Organization))
		}
	}
	for _, k := range secrets {
		cb := get(k.Organization)
		if cb.Secret != "" {
			errs = append(errs, fmt.Errorf("callback-secrets: organization %q has more than one callback secret; pushd signs with one (see rotation in docs/operations.md)", k.Organization))
			continue
		}
		cb.Secret = k.Value
		if err := checkKey(k.Value); err != nil {
			errs = append(errs, fmt.Errorf("callback-secrets: secret of organization %q: %w", k.Organization, err))
		}
	}
	out := make([]Callback, 0, len(byOrg))
	for _, cb := range byOrg {
		out = append(out, *cb)
	}
	slices.SortFunc(out, func(a, b Callback) int { return strings.Compare(a.Organization, b.Organization) })
	for _, cb := range out {
		switch {
		case cb.URL == "":
			errs = append(errs, fmt.Errorf("callback-urls: organization %q has a callback secret but no callback URL", cb.Organization))
		case cb.Secret == "":
			errs = append(errs, fmt.Errorf("callback-secrets: organization %q has a callback URL but no callback secret", cb.Organization))
		}
		if len(orgs) > 0 && !slices.Contains(orgs, cb.Organization) {
			if cb.Organization == DefaultOrganization {
				errs = append(errs, fmt.Errorf("callback-urls: a callback URL without an organization, while pushd serves several (%s): write each as org=URL, and each secret as org=whsec_…", strings.Join(orgs, ", ")))
			} else {
				errs = append(errs, fmt.Errorf("callback-urls: organization %q has no webhook secret or API token", cb.Organization))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// Organizations lists, sorted, the organizations the webhook secrets and
// API tokens speak for.
func (c Config) Organizations() []string {
	var orgs []string
	for _, cr := range slices.Concat(c.WebhookSecrets, c.APITokens) {
		if !slices.Contains(orgs, cr.Organization) {
			orgs = append(orgs, cr.Organization)
		}
	}
	slices.Sort(orgs)
	return orgs
}

// OrganizationsWithoutCallback lists, sorted, the organizations that have
// credentials but no callback receiver while others have one: their events
// are recorded and never sent. Empty when callbacks are off altogether.
func (c Config) OrganizationsWithoutCallback() []string {
	cbs, err := c.Callbacks()
	if err != nil || len(cbs) == 0 {
		return nil
	}
	var out []string
	for _, org := range c.Organizations() {
		if !slices.ContainsFunc(cbs, func(cb Callback) bool { return cb.Organization == org }) {
			out = append(out, org)
		}
	}
	return out
}

// Credential is a secret or token bound to the organization it speaks for.
type Credential struct {
	Organization string
	Value        string
}

// String never prints the secret itself.
func (c Credential) String() string { return c.Organization + "=<redacted>" }

// Default returns the configuration pushd runs with when nothing is set.
func Default() Config {
	return Config{
		Listen:        "127.0.0.1:8080",
		DatabaseURL:   "sqlite://./data/pushd.db",
		KubeconfigDir: "./kubeconfigs",
		MaxBodyBytes:  4 << 20,

		ReadHeaderTimeout:     10 * time.Second,
		ReadTimeout:           30 * time.Second,
		WriteTimeout:          60 * time.Second,
		IdleTimeout:           60 * time.Second,
		MaxHeaderBytes:        64 << 10,
		MaxConcurrentRequests: 256,
		ProbeInterval:         health.DefaultProbeInterval,
		StatusInterval:        observe.DefaultPollInterval,
		ClusterQPS:            clusters.DefaultQPS,
		ClusterBurst:          clusters.DefaultBurst,
		JobLease:              jobs.DefaultLease,
		ClusterLease:          leases.DefaultDuration,
		JobsPerCluster:        jobs.DefaultPerCluster,
		JobRetention:          720 * time.Hour,
		ShutdownTimeout:       30 * time.Second,
		LogLevel:              slog.LevelInfo,
		LogFormat:             "text",
	}
}

// Validate reports every problem at once, each naming the setting at fault.
func (c Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen %q: %w", c.Listen, err))
	} else if !c.tls() && len(c.TrustedProxies) == 0 && !c.InsecureHTTP && !loopback(c.Listen) {
		errs = append(errs, fmt.Errorf("listen %q: a non-loopback address needs --tls-cert-file and --tls-key-file, "+
			"or --trusted-proxies for a TLS-terminating proxy; --insecure-http serves plain HTTP anyway (tokens and kubeconfigs in clear)", c.Listen))
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		errs = append(errs, errors.New("tls-cert-file and tls-key-file: set both or neither"))
	}
	for name, d := range map[string]time.Duration{"read-header-timeout": c.ReadHeaderTimeout, "read-timeout": c.ReadTimeout, "write-timeout": c.WriteTimeout, "idle-timeout": c.IdleTimeout} {
		if d < 100*time.Millisecond {
			errs = append(errs, fmt.Errorf("%s %s: must be at least 100ms", name, d))
		}
	}
	if c.MaxHeaderBytes < 4<<10 {
		errs = append(errs, fmt.Errorf("max-header-bytes %d: must be at least 4096", c.MaxHeaderBytes))
	}
	if c.MaxConcurrentRequests < 1 {
		errs = append(errs, fmt.Errorf("max-concurrent-requests %d: must be at least 1", c.MaxConcurrentRequests))
	}
	if _, err := ParseDatabaseURL(c.DatabaseURL); err != nil {
		errs = append(errs, err)
	}
	if c.KubeconfigDir == "" {
		errs = append(errs, errors.New("kubeconfig-dir: must not be empty"))
	}
	for _, s := range c.WebhookSecrets {
		if err := checkKey(s.Value); err != nil {
			errs = append(errs, fmt.Errorf("webhook-secrets: secret of organization %q: %w", s.Organization, err))
		}
	}
	for _, t := range c.APITokens {
		if err := checkToken(t.Value); err != nil {
			errs = append(errs, fmt.Errorf("api-tokens: a token of organization %q %w", t.Organization, err))
		}
	}
	if c.MetricsToken != "" {
		if err := checkToken(c.MetricsToken); err != nil {
			errs = append(errs, fmt.Errorf("metrics-token: %w", err))
		}
		for _, t := range c.APITokens {
			if t.Value == c.MetricsToken {
				errs = append(errs, fmt.Errorf("metrics-token: is an API token of organization %q; the metrics show every organization's clusters, so give the scraper a token of its own", t.Organization))
			}
		}
	}
	if c.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(c.MetricsListen); err != nil {
			errs = append(errs, fmt.Errorf("metrics-listen %q: %w", c.MetricsListen, err))
		} else if c.MetricsListen == c.Listen {
			errs = append(errs, fmt.Errorf("metrics-listen %q: is --listen; give the metrics an address of their own", c.MetricsListen))
		}
	}
	if _, err := c.Callbacks(); err != nil {
		errs = append(errs, err)
	}
	if c.MaxBodyBytes <= 0 {
		errs = append(errs, fmt.Errorf("max-body-bytes %d: must be positive", c.MaxBodyBytes))
	}
	if c.ProbeInterval < time.Second {
		errs = append(errs, fmt.Errorf("probe-interval %s: must be at least 1s", c.ProbeInterval))
	}
	if c.StatusInterval < time.Second {
		errs = append(errs, fmt.Errorf("status-interval %s: must be at least 1s", c.StatusInterval))
	}
	if c.ClusterQPS <= 0 || c.ClusterBurst < 1 {
		errs = append(errs, fmt.Errorf("cluster-qps %g and cluster-burst %d: must be positive", c.ClusterQPS, c.ClusterBurst))
	}
	if c.JobLease < 3*time.Second {
		errs = append(errs, fmt.Errorf("job-lease %s: must be at least 3s", c.JobLease))
	}
	if c.ClusterLease < 3*time.Second {
		errs = append(errs, fmt.Errorf("cluster-lease %s: must be at least 3s", c.ClusterLease))
	}
	if c.JobsPerCluster < 1 {
		errs = append(errs, fmt.Errorf("jobs-per-cluster %d: must be at least 1", c.JobsPerCluster))
	}
	if c.JobRetention < time.Hour {
		errs = append(errs, fmt.Errorf("job-retention %s: must be at least 1h", c.JobRetention))
	}
	if c.ManifestKeys != "" && c.ManifestKeyFile != "" {
		errs = append(errs, errors.New("manifest-keys and manifest-key-file: set one, not both"))
	}
	if _, err := sealed.ParseKeys(c.ManifestKeys); err != nil {
		errs = append(errs, fmt.Errorf("manifest-keys: %w", err))
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("log-format %q: must be text or json", c.LogFormat))
	}
	return errors.Join(errs...)
}

// ManifestKeyring returns the keys that seal stored manifests, read from
// ManifestKeyFile when it is set; nil when none is configured.
func (c Config) ManifestKeyring() (*sealed.Keyring, error) {
	raw := c.ManifestKeys
	if c.ManifestKeyFile != "" {
		b, err := os.ReadFile(c.ManifestKeyFile)
		if err != nil {
			return nil, fmt.Errorf("manifest-key-file: %w", err)
		}
		raw = string(b)
	}
	keys, err := sealed.ParseKeys(raw)
	if err != nil {
		return nil, fmt.Errorf("manifest keys: %w", err)
	}
	return sealed.New(keys)
}

// MinTokenLength is the shortest API token accepted: 32 characters hold
// 128 bits even when written in hex.
const MinTokenLength = 32

// minTokenSymbols is the fewest distinct characters a token may have: a
// random token of 32 hex digits has about 14, while a placeholder
// ("changeme…", "aaaa…", a repeated word) has few, and its length says
// nothing of its strength.
const minTokenSymbols = 8

// checkToken checks a bearer token's strength, never quoting it. Tokens
// must be unguessable: the failure limit lets a valid token through from
// an address flooding wrong ones (pkg/api), which is safe only so.
func checkToken(v string) error {
	if len(v) < MinTokenLength {
		return fmt.Errorf("is shorter than %d characters; use at least 128 random bits, e.g. openssl rand -hex 16", MinTokenLength)
	}
	seen := map[rune]bool{}
	for _, r := range v {
		seen[r] = true
	}
	if len(seen) < minTokenSymbols {
		return fmt.Errorf("has fewer than %d distinct characters, like a placeholder; use at least 128 random bits, e.g. openssl rand -hex 16", minTokenSymbols)
	}
	return nil
}

// minKeyBytes is the shortest webhook key accepted: 128 bits.
const minKeyBytes = 16

// checkKey checks a whsec_ secret's form and strength, never quoting it.
func checkKey(s string) error {
	raw, ok := strings.CutPrefix(s, "whsec_")
	if !ok {
		return errors.New("must start with whsec_")
	}
	key, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		return errors.New("whsec_ must be followed by base64")
	}
	if len(key) < minKeyBytes {
		return fmt.Errorf("key is %d bytes; at least %d (128 bits) are needed, e.g. whsec_$(openssl rand -base64 32)", len(key), minKeyBytes)
	}
	return nil
}

func (c Config) tls() bool { return c.TLSCertFile != "" && c.TLSKeyFile != "" }

// loopback says whether a listen address only accepts local connections.
// An empty host or a name other than localhost binds more than loopback.
func loopback(listen string) bool {
	host, _, _ := net.SplitHostPort(listen)
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// ParseCIDRs reads a comma-separated list of CIDRs or single addresses.
func ParseCIDRs(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, fmt.Errorf("%q is not an address or CIDR", f)
			}
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not an address or CIDR", f)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// orgRE is what an organization name in "org=value" looks like. A value
// itself may contain "=" (base64 padding of a whsec_ secret), so a field is
// only split where its prefix is such a name and not a secret.
var orgRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// ParseCredentials reads the space-separated "[org=]value" list of
// --webhook-secrets and --api-tokens. A field is split at its first "="
// only when what follows is more than base64 padding and what precedes
// looks like an organization name; a token that contains "=" elsewhere must
// be written with its organization ("default=…"). Errors never repeat any
// part of a field: it may be a secret.
func ParseCredentials(s string) ([]Credential, error) {
	var out []Credential
	for i, field := range strings.Fields(s) {
		org, value, found := strings.Cut(field, "=")
		switch {
		case !found, strings.HasPrefix(field, "whsec_"), org != "" && !orgRE.MatchString(org), strings.Trim(value, "=") == "":
			org, value = DefaultOrganization, field
		}
		if org == "" || value == "" || strings.HasPrefix(field, "=") {
			return nil, fmt.Errorf("credential #%d: want [org=]value", i+1)
		}
		out = append(out, Credential{Organization: org, Value: value})
	}
	return out, nil
}

// Database names a store backend and how to reach it.
type Database struct {
	// Driver is "sqlite" or "postgres".
	Driver string
	// DSN is what the driver opens: a file path for SQLite, the URL itself for PostgreSQL.
	DSN string
}

// ParseDatabaseURL understands sqlite://PATH (sqlite:///abs/path, sqlite://./rel,
// sqlite://:memory:) and postgres:// or postgresql:// URLs.
func ParseDatabaseURL(raw string) (Database, error) {
	// Messages never quote raw: a PostgreSQL URL may hold a password.
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return Database{}, errors.New("database-url: want sqlite://PATH or postgres://…")
	}
	switch scheme {
	case "sqlite":
		if rest == "" {
			return Database{}, errors.New("database-url: sqlite needs a path (sqlite://./data/pushd.db)")
		}
		return Database{Driver: "sqlite", DSN: rest}, nil
	case "postgres", "postgresql":
		var ue *url.Error
		if _, err := url.Parse(raw); errors.As(err, &ue) {
			return Database{}, fmt.Errorf("database-url: not a valid URL: %w", ue.Err)
		} else if err != nil {
			return Database{}, errors.New("database-url: not a valid URL")
		}
		return Database{Driver: "postgres", DSN: raw}, nil
	default:
		return Database{}, fmt.Errorf("database-url: unsupported scheme %q (want sqlite or postgres)", scheme)
	}
}
