// Package blackbox is the setup the suites of the real pushd binary (test/e2e,
// test/fault) share: a test package's binary and test bed, Odoo's callback
// endpoint checked against the contract, pushd's settings for a run, and the
// bodies that enroll a test-bed cluster through the signed API.
package blackbox

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/vworkspace/pushd/internal/contracttest"
	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/internal/faultcheck"
	"github.com/vworkspace/pushd/internal/pushdproc"
	"github.com/vworkspace/pushd/internal/testbed"
)

// Odoo's secrets: WebhookSecret signs its writes, ReadToken authorizes its
// reads, CallbackSecret signs pushd's callbacks to it; and the scraper's,
// MetricsToken, which reads /metrics.
const (
	WebhookSecret  = "whsec_YmxhY2tib3gtd2ViaG9vay1zZWNyZXQta2V5LTEy"
	CallbackSecret = "whsec_YmxhY2tib3gtY2FsbGJhY2stc2VjcmV0LWtleS0x"
	ReadToken      = "blackbox-read-token-0123456789abcdef"
	MetricsToken   = "blackbox-metrics-token-0123456789abcdef"
)

// Suite is what a test package's tests share: pushd, built once, and a test
// bed.
type Suite struct {
	Bed    *testbed.Bed
	Binary string
}

// Main builds pushd, starts a test bed with opts, runs the package's tests
// (through dbtest.Main, so a PostgreSQL they started is stopped), removes
// both and exits with the tests' status:
//
//	var suite blackbox.Suite
//
//	func TestMain(m *testing.M) { suite.Main(m, testbed.Options{Clusters: 2}) }
func (s *Suite) Main(m *testing.M, opts testbed.Options) {
	dir, err := os.MkdirTemp("", "pushd-blackbox-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if s.Binary, err = pushdproc.Build(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	s.Bed = testbed.MustStart(opts)
	code := dbtest.Main(m)
	s.Bed.Stop()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Start starts pushd on addr with env (see Env) and fails t if it does not
// become ready.
func (s *Suite) Start(t *testing.T, addr string, env []string) *pushdproc.Proc {
	t.Helper()
	p, err := pushdproc.Start(pushdproc.Options{Binary: s.Binary, Addr: addr, Env: env})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Client is Odoo's client of the pushd at base, and its scraper's.
func Client(base string) *pushdproc.Client {
	return &pushdproc.Client{Base: base, Secret: WebhookSecret, Token: ReadToken, MetricsToken: MetricsToken}
}

// Receiver is Odoo's callback endpoint, checking every callback against the
// contract; it is closed when t ends.
func Receiver(t *testing.T) *faultcheck.Receiver {
	t.Helper()
	r, err := faultcheck.NewReceiver(CallbackSecret, func(body []byte) { contracttest.CheckEvent(t, body) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

// Env is pushd's settings for a run on db: a kubeconfig folder of t's,
// Odoo's secrets and the scraper's, callbacks to recv (none when nil) and
// job leases of 3 s, so a killed process's jobs are taken over soon. extra
// adds settings, or overrides these (the last of a name wins).
func Env(t *testing.T, db dbtest.Database, recv *faultcheck.Receiver, extra ...string) []string {
	env := []string{
		"PUSHD_DATABASE_URL=" + db.URL(), "PUSHD_KUBECONFIG_DIR=" + filepath.Join(t.TempDir(), "kubeconfigs"),
		"PUSHD_WEBHOOK_SECRETS=" + WebhookSecret, "PUSHD_API_TOKENS=" + ReadToken, "PUSHD_METRICS_TOKEN=" + MetricsToken, "PUSHD_JOB_LEASE=3s",
	}
	if recv != nil {
		env = append(env, "PUSHD_CALLBACK_URL="+recv.URL, "PUSHD_CALLBACK_SECRET="+CallbackSecret)
	}
	return append(env, extra...)
}

// Addr is a loopback address free now, to serve pushd on.
func Addr(t *testing.T) string {
	t.Helper()
	p, err := testbed.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", p)
}

// Record is the body of PUT /api/v1/clusters/{id} for manifest deploys of
// applications in namespaces, and the operation types more (each an
// allowed_operations entry). It accepts excess rights: the credential
// AdminKubeconfig gives is the test bed's admin token.
func Record(namespaces, applications []string, more ...map[string]string) []byte {
	b, _ := json.Marshal(map[string]any{
		"allowed_namespaces": namespaces, "allowed_applications": applications,
		"allowed_operations":   append([]map[string]string{{"engine": "manifest", "type": "deploy"}}, more...),
		"accept_excess_rights": true,
	})
	return b
}

// AdminKubeconfig is the body of PUT /api/v1/clusters/{id}/kubeconfig for
// c, with the test bed's admin token.
func AdminKubeconfig(c *testbed.Cluster) []byte {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["c"] = &clientcmdapi.Cluster{Server: c.Host, CertificateAuthorityData: c.CAData}
	kc.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: c.AdminToken}
	kc.Contexts["x"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	b, _ := clientcmd.Write(*kc)
	return b
}
