package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/vworkspace/pushd/pkg/clusters"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	rbacv1ac "k8s.io/client-go/applyconfigurations/rbac/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Options say which scoped credential Run mints.
type Options struct {
	// ClusterID names the cluster; it labels and names every object Run makes.
	ClusterID string
	// Namespaces are the cluster's allowed namespaces. Only those that exist
	// and carry managed-by=vworkspace are granted.
	Namespaces []string
	// ServiceAccountNamespace is where pushd's ServiceAccount lives, created
	// if missing. Default "vworkspace-pushd".
	ServiceAccountNamespace string
	// ServiceAccountName is the record's own ServiceAccount. Default
	// "pushd-<ClusterID>": every cluster record gets an identity of its own,
	// so two records on one physical cluster (say, two organizations' tenants)
	// never share rights. Run refuses a ServiceAccount that another
	// record's bootstrap made.
	ServiceAccountName string
	// TokenTTL is the minted token's lifetime; pushd renews it (RenewToken).
	// Default 24h, at least 10m (the API server's minimum).
	TokenTTL time.Duration
	// Logger receives progress; discarded when nil. Tokens are never logged.
	Logger *slog.Logger
}

// SkippedNamespace is an allowed namespace Run did not grant, and why.
type SkippedNamespace struct{ Name, Reason string }

// Result is the minted credential and what it may do.
type Result struct {
	// Credential has the admin config's server and CA and the minted token.
	Credential *clusters.Credential
	// Granted are the namespaces given pushd's Role and RoleBinding, sorted.
	Granted []string
	// Skipped are the allowed namespaces that were not granted.
	Skipped []SkippedNamespace
	// Expiry is when the token expires.
	Expiry time.Time
}

const (
	bootstrapFieldManager = "pushd-bootstrap"
	// bootstrapClusterIDLabel is the cluster-id label of invariant 3
	// (docs/architecture.md), carried by every object pushd makes.
	bootstrapClusterIDLabel = "app.vworkspace.io/cluster-id"
	// bootstrapGrantLabel says what a bootstrap object is for, so a re-run
	// finds exactly its own leftovers and nothing else.
	bootstrapGrantLabel      = "app.vworkspace.io/pushd-grant"
	bootstrapGrantIdentity   = "identity"   // the ServiceAccount
	bootstrapGrantNamespace  = "namespace"  // Role+RoleBinding in one allowed namespace
	bootstrapGrantNamespaces = "namespaces" // ClusterRole+Binding: get on the granted Namespace objects
	bootstrapGrantToken      = "token"      // Role+RoleBinding: create its own token

	bootstrapDefaultSANamespace = "vworkspace-pushd"
	bootstrapDefaultSAPrefix    = "pushd-"
	bootstrapDefaultTokenTTL    = 24 * time.Hour
)

func (o *Options) normalize() error {
	if o.ServiceAccountNamespace == "" {
		o.ServiceAccountNamespace = bootstrapDefaultSANamespace
	}
	if o.ServiceAccountName == "" {
		o.ServiceAccountName = bootstrapDefaultSAPrefix + o.ClusterID
	}
	if o.TokenTTL == 0 {
		o.TokenTTL = bootstrapDefaultTokenTTL
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if errs := validation.IsDNS1123Label(o.ClusterID); len(errs) > 0 {
		return fmt.Errorf("cluster id %q: %s", o.ClusterID, errs[0])
	}
	for _, ns := range append([]string{o.ServiceAccountNamespace}, o.Namespaces...) {
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return fmt.Errorf("namespace %q: %s", ns, errs[0])
		}
	}
	if errs := validation.IsDNS1123Subdomain(o.ServiceAccountName); len(errs) > 0 {
		return fmt.Errorf("ServiceAccount name %q: %s", o.ServiceAccountName, errs[0])
	}
	if o.TokenTTL < renewMinTTL {
		return fmt.Errorf("token TTL %s: the API server's minimum is %s", o.TokenTTL, renewMinTTL)
	}
	o.Namespaces = slices.Compact(slices.Sorted(slices.Values(o.Namespaces)))
	return nil
}

// Run uses an admin credential, once, to mint pushd's own: a
// ServiceAccount bound by a Role with exactly clusters.NamespaceRules() in
// each allowed namespace that exists and is labeled managed-by=vworkspace,
// allowed to get those Namespace objects and to request tokens for itself,
// and nothing else.
// It is idempotent, and a re-run also takes back what is no longer allowed:
// grants in namespaces dropped from the list or unlabeled, and identities left
// by an earlier ServiceAccountNamespace/Name. It then mints a token valid for
// TokenTTL. A cluster with no grantable namespace still gets a credential,
// which can only renew itself; Granted says so.
//
// The admin config must verify TLS: its server and CA become the credential's.
func Run(ctx context.Context, admin *rest.Config, opts Options) (*Result, error) {
	if err := opts.normalize(); err != nil {
		return nil, fmt.Errorf("cluster %q: bootstrap: %w", opts.ClusterID, err)
	}
	b, err := newBootstrapper(admin, opts)
	if err != nil {
		return nil, err
	}
	res := &Result{}
	for _, ns := range opts.Namespaces {
		reason, err := b.refusal(ctx, ns)
		if err != nil {
			return nil, err
		}
		if reason != "" {
			res.Skipped = append(res.Skipped, SkippedNamespace{Name: ns, Reason: reason})
			b.log.Info("namespace not granted", "namespace", ns, "reason", reason)
			continue
		}
		res.Granted = append(res.Granted, ns)
	}
	if err := b.ensureIdentity(ctx); err != nil {
		return nil, err
	}
	// Take back first: whatever fails later, no stale right survives a re-run.
	if err := b.prune(ctx, res.Granted); err != nil {
		return nil, err
	}
	for _, ns := range res.Granted {
		if err := b.grantNamespace(ctx, ns); err != nil {
			return nil, err
		}
		b.log.Info("namespace granted", "namespace", ns)
	}
	if err := b.grantNamespaceReads(ctx, res.Granted); err != nil {
		return nil, err
	}
	if err := b.grantOwnToken(ctx); err != nil {
		return nil, err
	}
	token, expiry, err := renewMintToken(ctx, b.kube, b.opts.ServiceAccountNamespace, b.opts.ServiceAccountName, opts.TokenTTL)
	if err != nil {
		return nil, b.errorf("ServiceAccount %s/%s: request token: %w", b.opts.ServiceAccountNamespace, b.opts.ServiceAccountName, err)
	}
	b.log.Info("minted token", "serviceAccount", b.opts.ServiceAccountNamespace+"/"+b.opts.ServiceAccountName, "expiry", expiry)
	res.Credential = &clusters.Credential{Server: b.server, TLSServerName: b.serverName, CAData: b.caData, Token: token}
	res.Expiry = expiry
	return res, nil
}

// bootstrapper holds one Run's admin client and options.
type bootstrapper struct {
	opts       Options
	kube       kubernetes.Interface
	log        *slog.Logger
	server     string
	serverName string
	caData     []byte
}

func newBootstrapper(admin *rest.Config, opts Options) (*bootstrapper, error) {
	b := &bootstrapper{opts: opts, log: opts.Logger.With("cluster", opts.ClusterID)}
	if admin == nil {
		return nil, b.errorf("no admin config")
	}
	if admin.Insecure {
		return nil, b.errorf("the admin config skips TLS verification: pushd mints credentials only over verified TLS; give it the API server's CA")
	}
	cfg := rest.CopyConfig(admin)
	if err := rest.LoadTLSFiles(cfg); err != nil {
		return nil, b.errorf("admin config: read TLS files: %w", err)
	}
	server := cfg.Host
	if !strings.Contains(server, "://") {
		server = "https://" + server
	}
	if u, err := url.Parse(server); err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, b.errorf("admin config: server %q must be an https:// URL", cfg.Host)
	}
	b.server, b.serverName, b.caData = server, cfg.ServerName, cfg.CAData
	cfg.UserAgent = bootstrapFieldManager
	cfg.WarningHandler = clusters.WarningLogger{Log: b.log}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	// The admin credential is sent only to its own server, and what that
	// server answers is bounded, as every cluster connection's.
	clusters.Guard(cfg, 0)
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, b.errorf("admin config: %w", err)
	}
	b.kube = kube
	return b, nil
}

// errorf names the cluster and the operation first.
func (b *bootstrapper) errorf(format string, args ...any) error {
	return fmt.Errorf("cluster %q: bootstrap: "+format, append([]any{b.opts.ClusterID}, args...)...)
}

func (b *bootstrapper) labels(grant string) map[string]string {
	return map[string]string{bootstrapClusterIDLabel: b.opts.ClusterID, bootstrapGrantLabel: grant}
}

// Object names are predictable, so an operator can find and audit them.
func (b *bootstrapper) grantName() string      { return "pushd-" + b.opts.ClusterID }
func (b *bootstrapper) namespacesName() string { return "pushd-" + b.opts.ClusterID + "-namespaces" }
func (b *bootstrapper) tokenName() string      { return "pushd-" + b.opts.ClusterID + "-token" }

func (b *bootstrapper) subject() *rbacv1ac.SubjectApplyConfiguration {
	return rbacv1ac.Subject().WithKind(rbacv1.ServiceAccountKind).WithNamespace(b.opts.ServiceAccountNamespace).WithName(b.opts.ServiceAccountName)
}

// Run owns the objects it names: Force takes over fields someone else
// edited, so a re-run restores exactly the intended rules.
var bootstrapApply = metav1.ApplyOptions{FieldManager: bootstrapFieldManager, Force: true}

// refusal says why ns may not be granted, or "" when it may.
func (b *bootstrapper) refusal(ctx context.Context, ns string) (string, error) {
	obj, err := b.kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return "namespace not found", nil
	case err != nil:
		return "", b.errorf("namespace %q: %w", ns, err)
	case obj.DeletionTimestamp != nil:
		return "namespace is being deleted", nil
	}
	want := clusters.ManagedNamespaceLabel + "=" + clusters.ManagedNamespaceValue
	if v, ok := obj.Labels[clusters.ManagedNamespaceLabel]; !ok {
		return "namespace is not labeled " + want, nil
	} else if v != clusters.ManagedNamespaceValue {
		return fmt.Sprintf("namespace is labeled %s=%s, not %s", clusters.ManagedNamespaceLabel, v, want), nil
	}
	return "", nil
}

// ErrIdentityTaken is returned by Run when the ServiceAccount it was
// asked to use exists and is not this record's: another record's bootstrap
// made it, or someone else did. Sharing it would give each record the other's
// rights.
var ErrIdentityTaken = errors.New("ServiceAccount belongs to another cluster record")

// checkOwnIdentity refuses a ServiceAccount that exists and is not labeled
// as this record's identity.
func (b *bootstrapper) checkOwnIdentity(ctx context.Context) error {
	ns, name := b.opts.ServiceAccountNamespace, b.opts.ServiceAccountName
	sa, err := b.kube.CoreV1().ServiceAccounts(ns).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return b.errorf("ServiceAccount %s/%s: %w", ns, name, err)
	}
	owner, grant := sa.Labels[bootstrapClusterIDLabel], sa.Labels[bootstrapGrantLabel]
	if owner == b.opts.ClusterID && grant == bootstrapGrantIdentity {
		return nil
	}
	if owner == "" {
		owner = "none: pushd did not make it"
	}
	return b.errorf("ServiceAccount %s/%s (%s=%s): %w; give this record a ServiceAccount of its own",
		ns, name, bootstrapClusterIDLabel, owner, ErrIdentityTaken)
}

// ensureIdentity creates the ServiceAccount's namespace if missing and
// applies the ServiceAccount. pushd runs outside the cluster: no pod mounts it.
func (b *bootstrapper) ensureIdentity(ctx context.Context) error {
	ns := b.opts.ServiceAccountNamespace
	_, err := b.kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = b.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
			Name: ns, Labels: map[string]string{bootstrapClusterIDLabel: b.opts.ClusterID},
		}}, metav1.CreateOptions{FieldManager: bootstrapFieldManager})
		if err == nil {
			b.log.Info("created ServiceAccount namespace", "namespace", ns)
		}
		if apierrors.IsAlreadyExists(err) {
			err = nil
		}
	}
	if err != nil {
		return b.errorf("ServiceAccount namespace %q: %w", ns, err)
	}
	if err := b.checkOwnIdentity(ctx); err != nil {
		return err
	}
	sa := corev1ac.ServiceAccount(b.opts.ServiceAccountName, ns).
		WithLabels(b.labels(bootstrapGrantIdentity)).
		WithAutomountServiceAccountToken(false)
	if _, err := b.kube.CoreV1().ServiceAccounts(ns).Apply(ctx, sa, bootstrapApply); err != nil {
		return b.errorf("apply ServiceAccount %s/%s: %w", ns, b.opts.ServiceAccountName, err)
	}
	return nil
}
