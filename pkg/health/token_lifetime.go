package health

import (
	"context"
	"strings"
	"time"

	"github.com/vworkspace/pushd/pkg/clusters"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A bootstrapped credential may request tokens for its own ServiceAccount:
// renewal needs it. Kubernetes' RBAC cannot bound the lifetime asked for;
// only the API server's --service-account-max-token-expiration caps it, and
// nothing the API serves tells whether it is set. So a full probe asks for
// a token of lifetimeCheckSeconds and reads what the server granted: the
// cap, or the whole request when there is none.
//
// A dry run does not help: the API server signs a dry-run TokenRequest's
// token like any other, and the test bed's kube-apiserver accepted one as
// the ServiceAccount. The request is therefore made for lifetimeCheckAudience,
// an audience no API server accepts (its authenticator requires one of its
// --api-audiences), and as a dry run too; the token is neither kept nor
// shown, only its claims' lifetime is read.

const (
	// lifetimeCheckSeconds is ten years, the lifetime the security review
	// minted (create token --duration=87600h).
	lifetimeCheckSeconds = 87600 * 3600
	// lifetimeCheckAudience is the only audience of the checking token.
	lifetimeCheckAudience = "pushd.invalid/token-lifetime-check"
)

// TokenLifetime is what a probe found of the longest token the credential
// may request for itself.
type TokenLifetime struct {
	// Capped is whether the API server shortened a request for ten years
	// (--service-account-max-token-expiration); false: the credential may
	// mint itself a token of any lifetime.
	Capped bool `json:"capped"`
	// MaxSeconds is the lifetime granted for that request: the cap when
	// Capped.
	MaxSeconds int64 `json:"max_seconds"`
}

// tokenLifetime asks for a ten-year token for the ServiceAccount the
// credential is (username, as a SelfSubjectReview names it) and returns
// what was granted; nil when the credential is no ServiceAccount, may not
// request tokens for itself, or the answer carries no lifetime.
func tokenLifetime(ctx context.Context, c *clusters.Clients, username string) *TokenLifetime {
	ns, name, ok := serviceAccount(username)
	if !ok {
		return nil
	}
	secs := int64(lifetimeCheckSeconds)
	tr, err := c.Kube.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &secs, Audiences: []string{lifetimeCheckAudience}},
	}, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		return nil
	}
	// The token's own claims say what it is valid for, issued and expiring
	// by the server's clock; the answer's expirationTimestamp is the same
	// expiry, and the fallback when the token is no JWT.
	claims, ok := (&clusters.Credential{Token: tr.Status.Token}).Claims()
	tr.Status.Token = ""
	granted := int64(0)
	switch {
	case ok && !claims.IssuedAt.IsZero() && claims.Expiry.After(claims.IssuedAt):
		granted = int64(claims.Expiry.Sub(claims.IssuedAt) / time.Second)
	case !tr.Status.ExpirationTimestamp.IsZero():
		granted = int64(time.Until(tr.Status.ExpirationTimestamp.Time).Round(time.Minute) / time.Second)
	default:
		return nil
	}
	// A server that caps shortens the request to its cap; a minute's
	// slack is for the fallback's clock.
	return &TokenLifetime{Capped: granted < lifetimeCheckSeconds-60, MaxSeconds: granted}
}

// serviceAccount splits a ServiceAccount's username
// (system:serviceaccount:NAMESPACE:NAME).
func serviceAccount(username string) (ns, name string, ok bool) {
	rest, ok := strings.CutPrefix(username, "system:serviceaccount:")
	if !ok {
		return "", "", false
	}
	ns, name, ok = strings.Cut(rest, ":")
	return ns, name, ok && ns != "" && name != "" && !strings.Contains(name, ":")
}
