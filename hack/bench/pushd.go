package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vworkspace/pushd/internal/testbed"
)

// signRequest signs one write the way Odoo does (Standard Webhooks over the
// bound payload: HMAC-SHA256 of "id.timestamp.METHOD /path?query\nbody"). It
// is the only place in the benchmark that knows the signature scheme.
func signRequest(req *http.Request, key []byte, body []byte) {
	id := "msg_" + testbed.RandomHex(12)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	mac := hmac.New(sha256.New, key)
	io.WriteString(mac, id+"."+ts+".")
	io.WriteString(mac, req.Method+" "+req.URL.RequestURI()+"\n")
	mac.Write(body)
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", ts)
	req.Header.Set("webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
}

// pushd is one `pushd serve` subprocess with its own database and
// kubeconfig folder, driven only through its CLI, HTTP API and /metrics.
type pushd struct {
	name     string
	bin      string
	dir      string
	dbURL    string
	kubeDir  string
	base     string // http://127.0.0.1:PORT
	key      []byte // webhook key
	secret   string // whsec_…
	token    string // API token for reads
	extra    []string
	cmd      *exec.Cmd
	exited   chan struct{}
	http     *http.Client
	progress func(format string, args ...any)
}

func newPushd(name, bin, dir, dbURL string, extra []string, progress func(string, ...any)) (*pushd, error) {
	if err := os.MkdirAll(filepath.Join(dir, "kubeconfigs"), 0o700); err != nil {
		return nil, err
	}
	key := make([]byte, 32)
	rand.Read(key)
	if dbURL == "" {
		dbURL = "sqlite://" + filepath.Join(dir, "pushd.db")
	}
	return &pushd{
		name: name, bin: bin, dir: dir, dbURL: dbURL, kubeDir: filepath.Join(dir, "kubeconfigs"),
		key: key, secret: "whsec_" + base64.StdEncoding.EncodeToString(key), token: testbed.RandomHex(16),
		extra: extra, progress: progress,
		http: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
	}, nil
}

func (p *pushd) env() []string {
	return append(os.Environ(),
		"PUSHD_DATABASE_URL="+p.dbURL,
		"PUSHD_KUBECONFIG_DIR="+p.kubeDir,
	)
}

// cli runs one admin command (pushd clusters …) against this pushd's state.
func (p *pushd) cli(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, p.bin, args...)
	cmd.Env = p.env()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("pushd %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// start runs `pushd serve` on a free loopback port and waits for /readyz.
func (p *pushd) start(ctx context.Context) error {
	port, err := testbed.FreePort()
	if err != nil {
		return err
	}
	p.base = "http://127.0.0.1:" + strconv.Itoa(port)
	args := append([]string{"serve", "--listen", "127.0.0.1:" + strconv.Itoa(port), "--log-level", "warn", "--shutdown-timeout", "3s"}, p.extra...)
	p.cmd = exec.Command(p.bin, args...)
	p.cmd.Env = append(p.env(),
		"PUSHD_WEBHOOK_SECRETS="+p.secret,
		"PUSHD_API_TOKENS="+p.token,
	)
	logf, err := os.Create(filepath.Join(p.dir, "pushd.log"))
	if err != nil {
		return err
	}
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		return err
	}
	p.exited = make(chan struct{})
	go func() { p.cmd.Wait(); logf.Close(); close(p.exited) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-p.exited:
			log, _ := os.ReadFile(filepath.Join(p.dir, "pushd.log"))
			return fmt.Errorf("pushd %s exited at start: %s", p.name, tail(log, 2000))
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		resp, err := p.http.Get(p.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pushd %s not ready after 60s", p.name)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop ends the subprocess this benchmark started (SIGTERM, then SIGKILL).
func (p *pushd) stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(8 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
}

func (p *pushd) pid() int { return p.cmd.Process.Pid }

// write sends a signed write and decodes the answer into out (may be nil).
func (p *pushd) write(ctx context.Context, method, path string, body []byte, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, p.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	signRequest(req, p.key, body)
	return p.do(req, out)
}

// read sends an authenticated GET.
func (p *pushd) read(ctx context.Context, path string, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.base+path, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+p.token)
	return p.do(req, out)
}

func (p *pushd) do(req *http.Request, out any) (int, error) {
	resp, err := p.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode >= 300 {
		return resp.StatusCode, fmt.Errorf("%s %s: %d %s", req.Method, req.URL.Path, resp.StatusCode, tail(data, 400))
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
		}
	}
	return resp.StatusCode, nil
}

// jobSpec is what POST /api/v1/jobs takes.
type jobSpec struct {
	ID             string            `json:"id"`
	Cluster        string            `json:"cluster"`
	RequestID      string            `json:"request_id,omitempty"`
	Operation      map[string]string `json:"operation"`
	Application    string            `json:"application"`
	Namespace      string            `json:"namespace"`
	Action         string            `json:"action"`
	Manifests      []map[string]any  `json:"manifests"`
	TimeoutSeconds int               `json:"timeout_seconds,omitempty"`
}

func newJob(id, cluster, ns, app string, manifests []map[string]any) jobSpec {
	return jobSpec{ID: id, Cluster: cluster, Operation: map[string]string{"engine": "manifest", "type": "deploy"},
		Application: app, Namespace: ns, Action: "apply", Manifests: manifests}
}

// jobView is the part of GET /api/v1/jobs/{id} the benchmark reads.
type jobView struct {
	ID         string     `json:"id"`
	Cluster    string     `json:"cluster"`
	Status     string     `json:"status"`
	CreatedAt  time.Time  `json:"created_at"`
	StartedAt  *time.Time `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	Error      *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func (j jobView) terminal() bool {
	return j.Status == "succeeded" || j.Status == "failed" || j.Status == "cancelled"
}

// latency is created → finished as pushd recorded it.
func (j jobView) latency() time.Duration {
	if j.FinishedAt == nil {
		return 0
	}
	return j.FinishedAt.Sub(j.CreatedAt)
}

func (p *pushd) submit(ctx context.Context, j jobSpec) error {
	body, err := json.Marshal(j)
	if err != nil {
		return err
	}
	_, err = p.write(ctx, http.MethodPost, "/api/v1/jobs", body, nil)
	return err
}

// waitJob polls GET /api/v1/jobs/{id} until the job ends.
func (p *pushd) waitJob(ctx context.Context, id string, every time.Duration) (jobView, error) {
	for {
		var j jobView
		if _, err := p.read(ctx, "/api/v1/jobs/"+id, &j); err != nil {
			return j, err
		}
		if j.terminal() {
			if j.Status != "succeeded" {
				msg := ""
				if j.Error != nil {
					msg = j.Error.Code + ": " + j.Error.Message
				}
				return j, fmt.Errorf("job %s %s: %s", id, j.Status, msg)
			}
			return j, nil
		}
		select {
		case <-ctx.Done():
			return j, fmt.Errorf("job %s still %s: %w", id, j.Status, ctx.Err())
		case <-time.After(every):
		}
	}
}

// processMetrics reads pushd's own /metrics (no authentication).
func (p *pushd) processMetrics(ctx context.Context) (rss, goroutines float64, err error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.base+"/metrics", nil)
	resp, err := p.http.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	m, err := parseMetrics(resp.Body)
	if err != nil {
		return 0, 0, err
	}
	rss, ok1 := m.sum("process_resident_memory_bytes")
	goroutines, ok2 := m.sum("go_goroutines")
	if !ok1 || !ok2 {
		// Fall back to the kernel's figure for RSS.
		if r, err := procRSS(p.pid()); err == nil {
			rss = r
		}
		if !ok2 {
			return rss, 0, errors.New("go_goroutines not exposed")
		}
	}
	return rss, goroutines, nil
}

func procRSS(pid int) (float64, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			kb, err := strconv.ParseFloat(f[0], 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("no VmRSS")
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}
