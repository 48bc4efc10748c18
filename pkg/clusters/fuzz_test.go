package clusters

import (
	"net/url"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
)

// FuzzParseKubeconfig feeds arbitrary documents to the kubeconfig
// sanitiser. Whatever comes in: no panic; an accepted credential is an
// https server without user information, with an embedded token or
// certificate and key and nothing that runs, reads a file, skips TLS
// verification or goes through a proxy; a refusal never quotes the
// document's token; and what is accepted renders to a kubeconfig that is
// accepted again as the same credential.
func FuzzParseKubeconfig(f *testing.F) {
	const tmpl = `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: %s, certificate-authority-data: Y2E=}
users:
- name: u
  user: {%s}
contexts:
- name: x
  context: {cluster: c, user: u}
current-context: x
`
	for _, s := range []struct{ server, user string }{
		{"https://10.0.0.1:6443", "token: sekret-token-value"},
		{"https://10.0.0.1:6443", "tokenFile: /var/run/token"},
		{"https://10.0.0.1:6443", "exec: {command: sh, apiVersion: client.authentication.k8s.io/v1}"},
		{"https://user:pw@10.0.0.1", "token: t"},
		{"http://10.0.0.1", "token: t"},
		{"https://10.0.0.1", "client-certificate-data: Y2VydA==, client-key-data: a2V5"},
		{"https://10.0.0.1", "username: a, password: b"},
	} {
		f.Add([]byte(strings.Replace(strings.Replace(tmpl, "%s", s.server, 1), "%s", s.user, 1)))
	}
	f.Add([]byte(`{"apiVersion":"v1","kind":"Config","clusters":[{"name":"c","cluster":{"server":"https://h","insecure-skip-tls-verify":true}}],"users":[{"name":"u","user":{"token":"t"}}],"contexts":[{"name":"x","context":{"cluster":"c","user":"u"}}]}`))
	f.Add([]byte("token: \"sekret\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseKubeconfig(data)
		if err != nil {
			if cfg, lerr := clientcmd.Load(data); lerr == nil {
				for _, u := range cfg.AuthInfos {
					if u != nil && len(u.Token) >= 8 && strings.Contains(err.Error(), u.Token) {
						t.Fatalf("refusal quotes the token: %v", err)
					}
				}
			}
			return
		}
		u, perr := url.Parse(c.Server)
		if perr != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
			t.Fatalf("accepted server %q", c.Server)
		}
		if c.Token == "" && (len(c.CertData) == 0 || len(c.KeyData) == 0) {
			t.Fatal("accepted a credential without a token or a certificate and key")
		}
		cfg, lerr := clientcmd.Load(data)
		if lerr != nil {
			t.Fatalf("accepted what clientcmd cannot load: %v", lerr)
		}
		for _, a := range cfg.AuthInfos {
			if a != nil && a.Token == c.Token && (a.Exec != nil || a.AuthProvider != nil || a.TokenFile != "" || a.Impersonate != "") {
				t.Fatalf("accepted a user that runs, reads or impersonates: %+v", a)
			}
		}
		out, err := c.Kubeconfig("cluster-1")
		if err != nil {
			t.Fatalf("render: %v", err)
		}
		again, err := ParseKubeconfig(out)
		if err != nil {
			t.Fatalf("the rendered kubeconfig is refused: %v", err)
		}
		if again.Server != c.Server || again.Token != c.Token || string(again.CAData) != string(c.CAData) ||
			string(again.CertData) != string(c.CertData) || string(again.KeyData) != string(c.KeyData) || again.TLSServerName != c.TLSServerName {
			t.Fatal("the rendered kubeconfig parses to another credential")
		}
		if cfg := c.RESTConfig(); cfg.Insecure || cfg.Proxy != nil || cfg.ExecProvider != nil || cfg.AuthProvider != nil {
			t.Fatalf("REST config %+v", cfg)
		}
	})
}
