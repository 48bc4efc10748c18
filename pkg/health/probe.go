package health

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/vworkspace/pushd/pkg/clusters"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// State is a cluster's connectivity as its last probe saw it
// (ConnectivityState in api/openapi.yaml).
type State string

// Connectivity states.
const (
	StateReady         State = "ready"
	StateUnreachable   State = "unreachable"
	StateUnauthorized  State = "unauthorized"
	StateNoCredentials State = "no_credentials"
)

// Status is what a probe observed of a cluster.
type Status struct {
	Connectivity  Connectivity      `json:"connectivity"`
	ServerVersion string            `json:"server_version,omitempty"`
	Credential    CredentialInfo    `json:"credential"`
	Namespaces    []NamespaceStatus `json:"namespaces"`
}

// Connectivity is whether pushd can reach and use the cluster.
type Connectivity struct {
	State     State      `json:"state"`
	CheckedAt *time.Time `json:"checked_at"` // nil until the first probe
	Message   string     `json:"message"`
	// Breaker is the circuit breaker's state, and RetryAt when it lets the next probe through.
	Breaker string     `json:"breaker,omitempty"`
	RetryAt *time.Time `json:"retry_at,omitempty"`
}

// CredentialInfo describes the stored credential without revealing it.
type CredentialInfo struct {
	Subject   string     `json:"subject,omitempty"`
	Expiry    *time.Time `json:"expiry,omitempty"`
	RenewedAt *time.Time `json:"renewed_at,omitempty"`
	// ExcessRights are rights outside the allowed namespaces (cluster-wide
	// or in namespaces it was not given) that the credential should not have.
	ExcessRights []string `json:"excess_rights"`
	// TokenLifetime is whether the API server caps the lifetime of the
	// tokens the credential may request for itself (its renewal right); nil
	// when the last full probe could not tell (token_lifetime.go).
	TokenLifetime *TokenLifetime `json:"token_lifetime,omitempty"`
}

// OverPrivileged tells whether the probe found rights the credential should
// not have: cluster-wide, in namespaces the record does not allow, or
// beyond what pushd needs in an allowed one. Jobs of an over-privileged
// cluster are refused unless its record accepts it (AcceptExcessRights).
func (s Status) OverPrivileged() bool {
	if len(s.Credential.ExcessRights) > 0 {
		return true
	}
	for _, ns := range s.Namespaces {
		if len(ns.ExcessRights) > 0 {
			return true
		}
	}
	return false
}

// NamespaceStatus is one allowed namespace as pushd sees it.
type NamespaceStatus struct {
	Name          string   `json:"name"`
	Exists        bool     `json:"exists"`
	Labeled       bool     `json:"labeled"`
	RightsOK      bool     `json:"rights_ok"`
	MissingRights []string `json:"missing_rights"`
	ExcessRights  []string `json:"excess_rights"`

	// PodSecurityEnforce is the namespace's pod-security.kubernetes.io/enforce
	// level; empty when Pod Security admission does not enforce there.
	PodSecurityEnforce string `json:"pod_security_enforce"`
}

// Probe checks one cluster with its own credential: reachability and server
// version, who the credential is (SelfSubjectReview), and per allowed
// namespace whether it exists, carries the managed-by label, and whether the
// credential has exactly the rights pushd needs there (SelfSubjectRulesReview).
// A few SelfSubjectAccessReviews look for rights it should not have elsewhere,
// among them in neighbours: namespaces other records on the same API server
// allow and rec does not (all of those given: the Monitor pages through
// them, at most maxNeighbourNamespaces a probe). ctx bounds the whole probe.
func Probe(ctx context.Context, c *clusters.Clients, rec *clusters.Record, neighbours []string, now time.Time) Status {
	st := Status{Connectivity: Connectivity{CheckedAt: &now}, Namespaces: []NamespaceStatus{}, Credential: CredentialInfo{ExcessRights: []string{}}}
	v, err := c.Kube.Discovery().ServerVersion()
	if err != nil {
		st.Connectivity.State, st.Connectivity.Message = classify("/version", err)
		return st
	}
	if len(v.GitVersion) > 64 || !versionRE.MatchString(v.GitVersion) {
		st.Connectivity.State, st.Connectivity.Message = StateUnreachable, "the API server's /version answer names no Kubernetes version"
		return st
	}
	st.ServerVersion = v.GitVersion
	ssr, err := c.Kube.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		st.Connectivity.State, st.Connectivity.Message = classify("a SelfSubjectReview", err)
		return st
	}
	st.Credential.Subject = shown(ssr.Status.UserInfo.Username)
	st.Connectivity.State, st.Connectivity.Message = StateReady, "reachable, "+v.GitVersion
	for _, ns := range rec.AllowedNamespaces {
		st.Namespaces = append(st.Namespaces, probeNamespace(ctx, c, ns))
	}
	st.Credential.ExcessRights = append(clusterExcess(ctx, c, rec), neighbourExcess(ctx, c, neighbours)...)
	st.Credential.TokenLifetime = tokenLifetime(ctx, c, ssr.Status.UserInfo.Username)
	return st
}

// versionRE is what a Kubernetes gitVersion looks like (v1.31.2,
// v1.30.4-eks-a737599, v1.29.7+k3s1), at most 64 bytes of it: the probe
// shows it, so it shows nothing else.
var versionRE = regexp.MustCompile(`^v[0-9]+\.[0-9]+(\.[0-9]+)?([-+.~][0-9A-Za-z.+~-]*)?$`)

// shown is a name the API server gave (the credential's user name) as the
// probe keeps it: at most 256 bytes of printable text, "" otherwise.
func shown(s string) string {
	if len(s) > 256 || strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return ""
	}
	return s
}

// classify turns the failure of a request (for what) into a connectivity
// state and a message in pushd's words: the HTTP status the API server
// answered, or the failure of the connection (which names the address and
// the dial or TLS error, never the credential), and never what the server
// sent — a hostile or misdirected server could put anything there.
func classify(what string, err error) (state State, message string) {
	var (
		status   apierrors.APIStatus
		redirect *clusters.RedirectError
		tooLarge *clusters.ResponseTooLargeError
	)
	switch {
	case errors.As(err, &redirect):
		return StateUnreachable, redirect.Error()
	case errors.As(err, &tooLarge):
		return StateUnreachable, tooLarge.Error()
	case apierrors.IsUnauthorized(err):
		return StateUnauthorized, "the API server rejected the credential (expired or revoked token?)"
	case apierrors.IsForbidden(err):
		return StateUnauthorized, "the credential lacks the rights to identify itself: the API server answered 403 Forbidden to " + what
	case errors.As(err, &status):
		code := int(status.Status().Code)
		return StateUnreachable, fmt.Sprintf("the API server answered %d %s to %s", code, http.StatusText(code), what)
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return StateUnreachable, "no answer before the probe timeout"
	case isConnection(err):
		return StateUnreachable, apiReason(err)
	default:
		// An answer client-go could not decode: its error quotes the body.
		return StateUnreachable, "the API server's answer to " + what + " is not a Kubernetes API server's"
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// isConnection tells whether err is a failure to connect: dialling, name
// resolution, TLS. Their texts are the Go library's, about the address and
// the certificate, and Reason reads them.
func isConnection(err error) bool {
	var (
		op        *net.OpError
		dns       *net.DNSError
		verify    *tls.CertificateVerificationError
		alert     tls.AlertError
		record    tls.RecordHeaderError
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
	)
	return errors.As(err, &op) || errors.As(err, &dns) || errors.As(err, &verify) || errors.As(err, &alert) ||
		errors.As(err, &record) || errors.As(err, &unknownCA) || errors.As(err, &hostname) || errors.As(err, &invalid) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// apiReason is the error text with any bearer token cut out, in case a
// transport ever echoes a request header.
func apiReason(err error) string {
	msg := err.Error()
	if i := strings.Index(strings.ToLower(msg), "bearer "); i >= 0 {
		msg = msg[:i] + "Bearer <redacted>"
	}
	return msg
}

func probeNamespace(ctx context.Context, c *clusters.Clients, name string) NamespaceStatus {
	ns := NamespaceStatus{Name: name, MissingRights: []string{}, ExcessRights: []string{}}
	obj, err := c.Kube.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	switch {
	case err == nil:
		ns.Exists = true
		ns.Labeled = obj.Labels[clusters.ManagedNamespaceLabel] == clusters.ManagedNamespaceValue
		ns.PodSecurityEnforce = obj.Labels[clusters.PodSecurityEnforceLabel]
	case apierrors.IsNotFound(err):
	default:
		// Forbidden: the credential may not read the Namespace object, so
		// neither existence nor the label can be confirmed.
		ns.MissingRights = append(ns.MissingRights, "get namespaces/"+name)
	}
	rr, err := c.Kube.AuthorizationV1().SelfSubjectRulesReviews().Create(ctx, &authorizationv1.SelfSubjectRulesReview{
		Spec: authorizationv1.SelfSubjectRulesReviewSpec{Namespace: name},
	}, metav1.CreateOptions{})
	if err != nil {
		_, msg := classify("a SelfSubjectRulesReview", err)
		ns.MissingRights = append(ns.MissingRights, "rules review failed: "+msg)
		return ns
	}
	have := rr.Status.ResourceRules
	for _, want := range clusters.NamespaceRules() {
		for _, g := range want.APIGroups {
			for _, r := range want.Resources {
				for _, v := range want.Verbs {
					if !covers(have, g, r, v) {
						ns.MissingRights = append(ns.MissingRights, right(v, g, r))
					}
				}
			}
		}
	}
	ns.ExcessRights = excess(have)
	ns.RightsOK = len(ns.MissingRights) == 0
	return ns
}

func covers(rules []authorizationv1.ResourceRule, group, resource, verb string) bool {
	for _, r := range rules {
		if len(r.ResourceNames) > 0 {
			continue // limited to named objects: not enough to apply arbitrary ones
		}
		if match(r.APIGroups, group) && match(r.Resources, resource) && match(r.Verbs, verb) {
			return true
		}
	}
	return false
}

func match(list []string, v string) bool {
	return slices.Contains(list, v) || slices.Contains(list, "*")
}

// excess lists the rules pushd's credential should never hold: wildcards,
// RBAC writes, escalate/bind/impersonate, and ServiceAccount tokens for others.
func excess(rules []authorizationv1.ResourceRule) []string {
	out := []string{}
	for _, r := range rules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					bad := g == "*" || res == "*" || clusters.DangerousVerb(v) ||
						(g == rbacv1.GroupName && v != "get" && v != "list" && v != "watch") ||
						(g == "" && res == "serviceaccounts/token" && len(r.ResourceNames) == 0)
					if bad {
						out = append(out, right(v, g, res))
					}
				}
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// clusterExcess asks about a few rights outside the allowed namespaces that
// would break the trust boundary if the credential held them.
func clusterExcess(ctx context.Context, c *clusters.Clients, rec *clusters.Record) []string {
	checks := []authorizationv1.ResourceAttributes{
		{Verb: "list", Resource: "namespaces"},
		{Verb: "create", Resource: "namespaces"},
		{Verb: "list", Resource: "secrets"}, // all namespaces
		{Verb: "create", Group: rbacv1.GroupName, Resource: "clusterrolebindings"},
		{Verb: "create", Resource: "configmaps", Namespace: "kube-system"},
	}
	out := []string{}
	for _, attrs := range checks {
		if attrs.Namespace != "" && rec.AllowsNamespace(attrs.Namespace) {
			continue
		}
		res, err := c.Kube.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &attrs},
		}, metav1.CreateOptions{})
		if err == nil && res.Status.Allowed {
			where := "cluster-wide"
			if attrs.Namespace != "" {
				where = "in " + attrs.Namespace
			}
			out = append(out, fmt.Sprintf("%s %s", right(attrs.Verb, attrs.Group, attrs.Resource), where))
		}
	}
	return out
}

func right(verb, group, resource string) string {
	if group == "" {
		return verb + " " + resource
	}
	return verb + " " + resource + "." + group
}

// ProbeLight confirms, with one GET of each allowed namespace (of the
// server version when there is none), that nothing a full Probe watches has
// visibly changed since prev: the cluster answers, the credential is
// accepted and allowed to read its namespaces, and each namespace exists
// with the same managed-by and Pod Security labels. It then returns prev
// checked at now, and ok. Anything else — prev not ready, an error, a
// difference — is not ok, and the caller probes fully, which classifies
// it. Idle clusters are probed this way between full probes: a full probe
// costs a request per namespace and check (about ten for one namespace),
// so at a 15 s interval it alone made an idle cluster cost over 30 API
// requests a minute (README, Performance).
func ProbeLight(ctx context.Context, c *clusters.Clients, rec *clusters.Record, prev Status, now time.Time) (Status, bool) {
	if prev.Connectivity.State != StateReady || len(prev.Namespaces) != len(rec.AllowedNamespaces) {
		return Status{}, false
	}
	if len(rec.AllowedNamespaces) == 0 {
		if _, err := c.Kube.Discovery().ServerVersion(); err != nil {
			return Status{}, false
		}
	}
	for i, name := range rec.AllowedNamespaces {
		was := prev.Namespaces[i]
		obj, err := c.Kube.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		if err != nil || was.Name != name || !was.Exists ||
			was.Labeled != (obj.Labels[clusters.ManagedNamespaceLabel] == clusters.ManagedNamespaceValue) ||
			was.PodSecurityEnforce != obj.Labels[clusters.PodSecurityEnforceLabel] {
			return Status{}, false
		}
	}
	st := prev
	st.Connectivity.CheckedAt = &now
	return st, true
}
