package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/vworkspace/pushd/pkg/clusters"
	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Errors RenewToken's callers branch on. The API server's own error is
// wrapped too, so apierrors.IsUnauthorized and IsForbidden also work.
var (
	// ErrNotRenewable: the credential is not a ServiceAccount token that
	// expires (a client certificate, another kind of token, or a legacy
	// Secret token); run bootstrap again to get one.
	ErrNotRenewable = errors.New("credential cannot renew its token")
	// ErrCredentialRejected: the API server answered 401. The token is
	// revoked (its ServiceAccount was deleted), expired or unknown to this
	// cluster; only a new bootstrap helps.
	ErrCredentialRejected = errors.New("the API server rejected the credential")
	// ErrCredentialForbidden: the API server answered 403. The token works
	// but may not request tokens for its ServiceAccount (its token Role is gone).
	ErrCredentialForbidden = errors.New("the credential may not request tokens for its ServiceAccount")
)

const (
	// renewMinTTL is the API server's minimum ExpirationSeconds.
	renewMinTTL = 10 * time.Minute
	// renewMinLeft is when a token of unknown lifetime is due for renewal.
	renewMinLeft = time.Hour
)

// RenewToken asks the API server, with the credential itself, for a fresh
// token for the credential's own ServiceAccount (named by its token's
// claims), valid for ttl. ttl 0 means the current token's lifetime (24h when
// unknown); anything under 10 minutes is raised to 10 minutes, the API
// server's minimum. c are the cluster's clients: the request shares their
// rate limit, timeout and warning log, but authenticates with cred, so a
// credential that lost its rights cannot hide behind another one. The
// returned credential is cred with the new token; cred is not modified.
func RenewToken(ctx context.Context, c *clusters.Clients, cred *clusters.Credential, ttl time.Duration) (*clusters.Credential, error) {
	if cred == nil {
		return nil, fmt.Errorf("cluster %q: renew token: no credential", c.ClusterID)
	}
	claims, ok := cred.Claims()
	switch {
	case !ok:
		return nil, fmt.Errorf("cluster %q: renew token: %w: not a JWT", c.ClusterID, ErrNotRenewable)
	case claims.Namespace == "" || claims.Name == "":
		return nil, fmt.Errorf("cluster %q: renew token: %w: subject %q is not a ServiceAccount", c.ClusterID, ErrNotRenewable, claims.Subject)
	case claims.Expiry.IsZero():
		return nil, fmt.Errorf("cluster %q: ServiceAccount %s/%s: renew token: %w: the token never expires (a legacy Secret token); bootstrap a short-lived one", c.ClusterID, claims.Namespace, claims.Name, ErrNotRenewable)
	}
	// One cluster, one trust boundary: a credential is only ever sent to its own server.
	if cred.Server != c.Config.Host {
		return nil, fmt.Errorf("cluster %q: renew token: the credential is for %s, the cluster's clients for %s", c.ClusterID, cred.Server, c.Config.Host)
	}
	if ttl == 0 {
		ttl = bootstrapDefaultTokenTTL
		if !claims.IssuedAt.IsZero() && claims.Expiry.After(claims.IssuedAt) {
			ttl = claims.Expiry.Sub(claims.IssuedAt)
		}
	}
	ttl = max(ttl, renewMinTTL)

	cfg := cred.RESTConfig()
	cfg.RateLimiter = c.Config.RateLimiter
	cfg.QPS, cfg.Burst = c.Config.QPS, c.Config.Burst
	cfg.Timeout = c.Config.Timeout
	cfg.UserAgent = c.Config.UserAgent
	cfg.WarningHandler = c.Config.WarningHandler
	// The cluster's transport: no redirect followed, answers bounded (clusters.Guard).
	cfg.WrapTransport = c.Config.WrapTransport
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("cluster %q: renew token: %w", c.ClusterID, err)
	}
	subject := fmt.Sprintf("cluster %q: ServiceAccount %s/%s", c.ClusterID, claims.Namespace, claims.Name)
	token, _, err := renewMintToken(ctx, kube, claims.Namespace, claims.Name, ttl)
	switch {
	case apierrors.IsUnauthorized(err):
		return nil, fmt.Errorf("%s: renew token: %w: %w", subject, ErrCredentialRejected, err)
	case apierrors.IsForbidden(err):
		return nil, fmt.Errorf("%s: renew token: %w: %w", subject, ErrCredentialForbidden, err)
	case err != nil:
		return nil, fmt.Errorf("%s: renew token: %w", subject, err)
	}
	renewed := *cred
	renewed.CAData, renewed.CertData, renewed.KeyData = slices.Clone(cred.CAData), slices.Clone(cred.CertData), slices.Clone(cred.KeyData)
	renewed.Token = token
	if got, ok := renewed.Claims(); !ok || got.Subject != claims.Subject {
		return nil, fmt.Errorf("%s: renew token: the API server returned a token for another subject", subject)
	}
	return &renewed, nil
}

// renewMintToken requests a token for ServiceAccount ns/name valid for ttl,
// with the API server's default audiences.
func renewMintToken(ctx context.Context, kube kubernetes.Interface, ns, name string, ttl time.Duration) (string, time.Time, error) {
	secs := int64(ttl / time.Second)
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &secs}}
	tr, err := kube.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, req, metav1.CreateOptions{})
	if err != nil {
		return "", time.Time{}, err
	}
	if tr.Status.Token == "" {
		return "", time.Time{}, errors.New("the API server returned no token")
	}
	return tr.Status.Token, tr.Status.ExpirationTimestamp.UTC(), nil
}

// RenewalDue reports whether a token with these claims should be renewed at
// now: when less than a third of its lifetime (IssuedAt to Expiry) remains,
// or, when its lifetime is unknown, less than an hour. A token without expiry
// is never due (and not renewable: see ErrNotRenewable).
func RenewalDue(claims clusters.TokenClaims, now time.Time) bool {
	if claims.Expiry.IsZero() {
		return false
	}
	left := claims.Expiry.Sub(now)
	if !claims.IssuedAt.IsZero() && claims.Expiry.After(claims.IssuedAt) {
		return left < claims.Expiry.Sub(claims.IssuedAt)/3
	}
	return left < renewMinLeft
}
