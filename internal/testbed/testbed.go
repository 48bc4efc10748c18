package testbed

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/vworkspace/pushd/internal/testbed/operator"
)

// Options describe a test bed.
type Options struct {
	// Clusters is how many API servers to start, named testbed-1 … testbed-N.
	Clusters int
	// Dir holds every file of the bed (certificates, logs, etcd data,
	// kubeconfigs). Empty: a temporary folder removed by Stop.
	Dir string
	// Logger reports progress; discarded when nil.
	Logger *slog.Logger
	// OperatorDelay is the stand-in operator's default reconcile delay.
	OperatorDelay time.Duration
	// ReadyTimeout bounds the wait for each API server. Default 3 minutes.
	ReadyTimeout time.Duration
	// MaxTokenExpiration, when set, caps the lifetime of the tokens the API
	// servers issue (--service-account-max-token-expiration, at least an
	// hour); none by default, as kube-apiserver's own default.
	MaxTokenExpiration time.Duration
}

// Bed is a running test bed.
type Bed struct {
	Dir      string
	Clusters []*Cluster
	Binaries Binaries

	log     *slog.Logger
	tempDir bool
	etcd    *process
	etcdURL string
	cancel  context.CancelFunc // stops the operators
	wg      sync.WaitGroup
}

// Cluster is one API server of the bed.
type Cluster struct {
	Name string
	// Dir is the cluster's folder; AdminKubeconfig is Dir/admin.kubeconfig.
	Dir             string
	AdminKubeconfig string
	// Host is https://127.0.0.1:PORT; CAData verifies its serving certificate.
	Host   string
	CAData []byte
	// AdminToken is a static token in system:masters.
	AdminToken string

	bed     *Bed
	port    int
	args    []string
	timeout time.Duration
	mu      sync.Mutex
	proc    *process
}

// Start starts etcd, opts.Clusters API servers in parallel, installs the test
// CRDs and runs the stand-in operator on each. On error everything already
// started is stopped.
func Start(ctx context.Context, opts Options) (_ *Bed, err error) {
	if opts.Clusters < 1 {
		return nil, errors.New("testbed: at least one cluster")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 3 * time.Minute
	}
	bins, err := EnsureBinaries(ctx, opts.Logger)
	if err != nil {
		return nil, err
	}
	b := &Bed{Dir: opts.Dir, Binaries: bins, log: opts.Logger}
	if b.Dir == "" {
		if b.Dir, err = os.MkdirTemp("", "pushd-testbed-"); err != nil {
			return nil, err
		}
		b.tempDir = true
	} else if err := os.MkdirAll(b.Dir, 0o755); err != nil {
		return nil, err
	}
	if b.Dir, err = filepath.Abs(b.Dir); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			b.Stop()
		}
	}()
	if err := b.startEtcd(ctx); err != nil {
		return nil, err
	}
	opCtx, cancel := context.WithCancel(context.Background()) // the operators live until Stop, not until ctx ends
	b.cancel = cancel
	b.Clusters = make([]*Cluster, opts.Clusters)
	g, gctx := errgroup.WithContext(ctx)
	for i := range b.Clusters {
		g.Go(func() error {
			c, err := b.newCluster(fmt.Sprintf("testbed-%d", i+1), opts.ReadyTimeout)
			b.Clusters[i] = c // set even on error, so Stop sees what started
			if err != nil {
				return err
			}
			if opts.MaxTokenExpiration > 0 {
				c.args = append(c.args, "--service-account-max-token-expiration", opts.MaxTokenExpiration.String())
			}
			if err := c.Start(gctx); err != nil {
				return err
			}
			if err := operator.InstallCRDs(gctx, c.AdminConfig()); err != nil {
				return fmt.Errorf("%s: install CRDs: %w", c.Name, err)
			}
			op, err := operator.New(c.AdminConfig(), operator.Options{Delay: opts.OperatorDelay, Logger: b.log.With("cluster", c.Name)})
			if err != nil {
				return err
			}
			b.wg.Go(func() { op.Run(opCtx) })
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *Bed) startEtcd(ctx context.Context) error {
	client, err := FreePort()
	if err != nil {
		return err
	}
	peer, err := FreePort()
	if err != nil {
		return err
	}
	b.etcdURL = "http://127.0.0.1:" + strconv.Itoa(client)
	data := filepath.Join(b.Dir, "etcd")
	os.RemoveAll(data) // a bed always starts empty
	b.etcd, err = startProcess("etcd", filepath.Join(b.Dir, "etcd.log"), b.Binaries.Etcd,
		"--name", "testbed",
		"--data-dir", data,
		"--listen-client-urls", b.etcdURL,
		"--advertise-client-urls", b.etcdURL,
		"--listen-peer-urls", "http://127.0.0.1:"+strconv.Itoa(peer),
		"--initial-advertise-peer-urls", "http://127.0.0.1:"+strconv.Itoa(peer),
		"--initial-cluster", "testbed=http://127.0.0.1:"+strconv.Itoa(peer),
		"--unsafe-no-fsync", // throw-away data; fsync would dominate on slow disks
		"--log-level", "warn",
	)
	if err != nil {
		return err
	}
	b.log.Info("started etcd", "url", b.etcdURL, "pid", b.etcd.Pid())
	return waitHTTP(ctx, b.etcd, http.DefaultClient, b.etcdURL+"/health", "", time.Minute)
}

func (b *Bed) newCluster(name string, timeout time.Duration) (*Cluster, error) {
	dir := filepath.Join(b.Dir, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	p, err := newPKI(dir, name)
	if err != nil {
		return nil, err
	}
	token := RandomHex(24)
	tokens := filepath.Join(dir, "tokens.csv")
	if err := os.WriteFile(tokens, []byte(token+`,testbed-admin,testbed-admin,"system:masters"`+"\n"), 0o600); err != nil {
		return nil, err
	}
	c := &Cluster{
		Name:            name,
		Dir:             dir,
		AdminKubeconfig: filepath.Join(dir, "admin.kubeconfig"),
		Host:            "https://127.0.0.1:" + strconv.Itoa(port),
		CAData:          p.CAData,
		AdminToken:      token,
		bed:             b,
		port:            port,
		timeout:         timeout,
	}
	c.args = []string{
		"--etcd-servers", b.etcdURL,
		"--etcd-prefix", "/" + name,
		"--bind-address", "127.0.0.1",
		"--advertise-address", "127.0.0.1",
		"--secure-port", strconv.Itoa(port),
		"--cert-dir", dir,
		"--tls-cert-file", p.CertFile,
		"--tls-private-key-file", p.KeyFile,
		"--token-auth-file", tokens,
		"--authorization-mode", "RBAC",
		"--service-account-issuer", "https://" + name + ".testbed.local",
		"--service-account-key-file", p.SAPubFile,
		"--service-account-signing-key-file", p.SAKeyFile,
		"--service-cluster-ip-range", "10.0.0.0/24",
		"--endpoint-reconciler-type", "none",
		"--profiling=false",
		"--v", "0",
	}
	if err := c.writeKubeconfig(); err != nil {
		return nil, err
	}
	return c, nil
}

// writeKubeconfig writes a cluster-admin kubeconfig with the CA embedded, so
// kubectl verifies TLS.
func (c *Cluster) writeKubeconfig() error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[c.Name] = &clientcmdapi.Cluster{Server: c.Host, CertificateAuthorityData: c.CAData}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: c.AdminToken}
	cfg.Contexts[c.Name] = &clientcmdapi.Context{Cluster: c.Name, AuthInfo: "admin", Namespace: "default"}
	cfg.CurrentContext = c.Name
	return clientcmd.WriteToFile(*cfg, c.AdminKubeconfig)
}

// AdminConfig is a cluster-admin REST config that verifies the server's certificate.
func (c *Cluster) AdminConfig() *rest.Config {
	return &rest.Config{
		Host:            c.Host,
		BearerToken:     c.AdminToken,
		TLSClientConfig: rest.TLSClientConfig{CAData: c.CAData},
		QPS:             200,
		Burst:           400,
	}
}

// Start starts (or restarts, after Stop) the cluster's API server and waits
// until it is ready. Its address, certificates and data stay the same.
func (c *Cluster) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc != nil && !c.proc.exited() {
		return nil
	}
	proc, err := startProcess(c.Name, filepath.Join(c.Dir, "apiserver.log"), c.bed.Binaries.KubeAPIServer, c.args...)
	if err != nil {
		return err
	}
	c.proc = proc
	c.bed.log.Info("started kube-apiserver", "cluster", c.Name, "host", c.Host, "pid", proc.Pid())
	hc, err := rest.HTTPClientFor(c.AdminConfig())
	if err != nil {
		return err
	}
	if err := waitHTTP(ctx, proc, hc, c.Host+"/readyz", c.AdminToken, c.timeout); err != nil {
		return fmt.Errorf("%s: %w (log: %s)", c.Name, err, filepath.Join(c.Dir, "apiserver.log"))
	}
	return nil
}

// Stop stops the cluster's API server, as an outage would; Start brings it back.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc == nil {
		return nil
	}
	return c.proc.stop(10 * time.Second)
}

// Pid is the API server's process id, or 0 when none was started.
func (c *Cluster) Pid() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc == nil {
		return 0
	}
	return c.proc.Pid()
}

// Cluster returns the cluster of that name, or nil.
func (b *Bed) Cluster(name string) *Cluster {
	for _, c := range b.Clusters {
		if c != nil && c.Name == name {
			return c
		}
	}
	return nil
}

// Pids lists the process ids the bed started (etcd first); each is also the
// id of the process group it leads.
func (b *Bed) Pids() []int {
	var pids []int
	if b.etcd != nil {
		pids = append(pids, b.etcd.Pid())
	}
	for _, c := range b.Clusters {
		if c != nil && c.Pid() != 0 {
			pids = append(pids, c.Pid())
		}
	}
	return pids
}

// Stop stops the operators, every API server and etcd, and removes the bed's
// folder if Start made it. It is safe to call more than once.
func (b *Bed) Stop() error {
	if b.cancel != nil {
		b.cancel()
	}
	b.wg.Wait()
	errs := make([]error, len(b.Clusters)+1)
	var wg sync.WaitGroup
	for i, c := range b.Clusters {
		if c != nil {
			wg.Go(func() { errs[i] = c.Stop() })
		}
	}
	wg.Wait()
	errs[len(b.Clusters)] = b.etcd.stop(10 * time.Second)
	if b.tempDir {
		os.RemoveAll(b.Dir)
	}
	return errors.Join(errs...)
}

// waitHTTP polls url until it answers 200, the process exits, or timeout.
func waitHTTP(ctx context.Context, p *process, hc *http.Client, url, token string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("%s answered %s", url, resp.Status)
		}
		last = err
		select {
		case <-p.done:
			return fmt.Errorf("%s exited while starting: %v", p.name, p.err)
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w (last: %v)", p.name, ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// FreePort is a TCP port free on loopback now (another process may take it
// before the caller binds it; the test bed retries where that matters).
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// RandomHex is n random bytes, hex-encoded.
func RandomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// MustStart starts a bed for a test package's TestMain, allowing up to 30
// minutes (the first run builds the binaries), and exits the test binary
// with the reason if it cannot:
//
//	func TestMain(m *testing.M) {
//		bed = testbed.MustStart(testbed.Options{Clusters: 3})
//		code := dbtest.Main(m)
//		bed.Stop()
//		os.Exit(code)
//	}
func MustStart(opts Options) *Bed {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	b, err := Start(ctx, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "start test bed:", err)
		os.Exit(1)
	}
	return b
}
