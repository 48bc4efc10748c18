package clusters

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Credential is a sanitised cluster credential: only the fields pushd copies
// out of a kubeconfig, all of them embedded. It never prints its secrets.
type Credential struct {
	Server        string
	TLSServerName string
	CAData        []byte
	Token         string
	CertData      []byte
	KeyData       []byte
}

// KubeconfigError says why a kubeconfig was refused and what to fix.
type KubeconfigError struct{ Reason string }

func (e *KubeconfigError) Error() string { return "kubeconfig rejected: " + e.Reason }

func rejected(format string, args ...any) error {
	return &KubeconfigError{Reason: fmt.Sprintf(format, args...)}
}

// ParseKubeconfig reads an untrusted kubeconfig (YAML or JSON) and copies out
// the allowed fields. It refuses anything that would run a command (exec,
// auth-provider), read a file (tokenFile, client-certificate, client-key,
// certificate-authority paths), skip TLS verification, impersonate, or go
// through a proxy, and kubeconfigs that do not have exactly one usable context.
// Nothing in the kubeconfig is executed or read from disk.
func ParseKubeconfig(data []byte) (*Credential, error) {
	if len(strings.TrimSpace(string(data))) == 0 {
		return nil, rejected("the kubeconfig is empty")
	}
	cfg, err := clientcmd.Load(data)
	if err != nil {
		return nil, rejected("not a kubeconfig (YAML or JSON): %v", scrub(err))
	}
	var usable []string
	for name, ctx := range cfg.Contexts {
		if ctx != nil && cfg.Clusters[ctx.Cluster] != nil && cfg.AuthInfos[ctx.AuthInfo] != nil {
			usable = append(usable, name)
		}
	}
	if len(usable) != 1 {
		return nil, rejected("it has %d usable contexts (a context naming an existing cluster and user); keep exactly one, for this cluster", len(usable))
	}
	ctx := cfg.Contexts[usable[0]]
	cluster, user := cfg.Clusters[ctx.Cluster], cfg.AuthInfos[ctx.AuthInfo]
	switch {
	case user.Exec != nil:
		return nil, rejected("user %q uses exec: pushd never runs commands from a kubeconfig; embed a ServiceAccount token instead", ctx.AuthInfo)
	case user.AuthProvider != nil:
		return nil, rejected("user %q uses auth-provider %q: embed a ServiceAccount token instead", ctx.AuthInfo, user.AuthProvider.Name)
	case user.TokenFile != "":
		return nil, rejected("user %q reads its token from a file (tokenFile): embed the token itself", ctx.AuthInfo)
	case user.ClientCertificate != "" || user.ClientKey != "":
		return nil, rejected("user %q reads client-certificate/client-key from files: embed them as client-certificate-data/client-key-data", ctx.AuthInfo)
	case user.Impersonate != "" || len(user.ImpersonateGroups) > 0 || user.ImpersonateUID != "":
		return nil, rejected("user %q impersonates another identity: give pushd its own credential", ctx.AuthInfo)
	case user.Username != "" || user.Password != "":
		return nil, rejected("user %q uses basic authentication: use a ServiceAccount token", ctx.AuthInfo)
	case cluster.CertificateAuthority != "":
		return nil, rejected("cluster %q reads its CA from a file (certificate-authority): embed it as certificate-authority-data", ctx.Cluster)
	case cluster.InsecureSkipTLSVerify:
		return nil, rejected("cluster %q sets insecure-skip-tls-verify: pushd always verifies the API server's certificate; add certificate-authority-data", ctx.Cluster)
	case cluster.ProxyURL != "":
		return nil, rejected("cluster %q sets proxy-url: pushd reaches clusters directly on the trusted network", ctx.Cluster)
	}
	// The server URL is not quoted back: it could carry user:password@.
	u, err := url.Parse(cluster.Server)
	switch {
	case err != nil || u.Scheme != "https" || u.Host == "":
		return nil, rejected("cluster %q: server must be an https:// URL", ctx.Cluster)
	case u.User != nil:
		return nil, rejected("cluster %q: server URL carries user information; authenticate with an embedded token instead", ctx.Cluster)
	}
	c := &Credential{
		Server:        cluster.Server,
		TLSServerName: cluster.TLSServerName,
		CAData:        cluster.CertificateAuthorityData,
		Token:         user.Token,
		CertData:      user.ClientCertificateData,
		KeyData:       user.ClientKeyData,
	}
	if c.Token == "" && (len(c.CertData) == 0 || len(c.KeyData) == 0) {
		return nil, rejected("user %q has no embedded token or client certificate and key", ctx.AuthInfo)
	}
	return c, nil
}

// scrub keeps a parse error from echoing the kubeconfig back: decoders quote
// the offending text, which may be a token.
func scrub(err error) string {
	msg := err.Error()
	if i := strings.IndexAny(msg, "\"'`"); i >= 0 {
		msg = msg[:i] + "…"
	}
	return msg
}

// Kubeconfig renders the credential as a kubeconfig whose cluster, user and
// context are all named after the cluster id.
func (c *Credential) Kubeconfig(clusterID string) ([]byte, error) {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[clusterID] = &clientcmdapi.Cluster{Server: c.Server, TLSServerName: c.TLSServerName, CertificateAuthorityData: c.CAData}
	cfg.AuthInfos[clusterID] = &clientcmdapi.AuthInfo{Token: c.Token, ClientCertificateData: c.CertData, ClientKeyData: c.KeyData}
	cfg.Contexts[clusterID] = &clientcmdapi.Context{Cluster: clusterID, AuthInfo: clusterID}
	cfg.CurrentContext = clusterID
	return clientcmd.Write(*cfg)
}

// RESTConfig is the client configuration; TLS is always verified.
func (c *Credential) RESTConfig() *rest.Config {
	return &rest.Config{
		Host:        c.Server,
		BearerToken: c.Token,
		TLSClientConfig: rest.TLSClientConfig{
			ServerName: c.TLSServerName,
			CAData:     c.CAData,
			CertData:   c.CertData,
			KeyData:    c.KeyData,
		},
	}
}

// String and LogValue keep secrets out of logs and error messages.
func (c *Credential) String() string {
	return fmt.Sprintf("credential{server=%s, token=%t, client-cert=%t}", c.Server, c.Token != "", len(c.CertData) > 0)
}

func (c *Credential) LogValue() slog.Value {
	return slog.GroupValue(slog.String("server", c.Server), slog.Bool("token", c.Token != ""))
}

// TokenClaims are the parts of a ServiceAccount token pushd reads: who it is
// and when it expires. The token's signature is the API server's business;
// these are only used to plan renewal and to show the credential.
type TokenClaims struct {
	Subject   string
	Expiry    time.Time // zero when the token does not expire (legacy Secret tokens)
	IssuedAt  time.Time
	Namespace string // of the ServiceAccount, when the subject is one
	Name      string
}

// Claims decodes the token's JWT payload; ok is false for non-JWT tokens.
func (c *Credential) Claims() (TokenClaims, bool) {
	parts := strings.Split(c.Token, ".")
	if len(parts) != 3 {
		return TokenClaims{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return TokenClaims{}, false
	}
	var raw struct {
		Sub string `json:"sub"`
		Exp int64  `json:"exp"`
		Iat int64  `json:"iat"`
	}
	if err := json.Unmarshal(payload, &raw); err != nil {
		return TokenClaims{}, false
	}
	tc := TokenClaims{Subject: raw.Sub}
	if raw.Exp > 0 {
		tc.Expiry = time.Unix(raw.Exp, 0).UTC()
	}
	if raw.Iat > 0 {
		tc.IssuedAt = time.Unix(raw.Iat, 0).UTC()
	}
	if rest, ok := strings.CutPrefix(raw.Sub, "system:serviceaccount:"); ok {
		tc.Namespace, tc.Name, _ = strings.Cut(rest, ":")
	}
	return tc, true
}
