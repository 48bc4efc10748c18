package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/vworkspace/pushd/internal/logbuf"
	"github.com/vworkspace/pushd/internal/pushdproc"
	"github.com/vworkspace/pushd/internal/testbed"
)

// pushd is one `pushd serve` subprocess with its own database and
// kubeconfig folder, driven only through its CLI, HTTP API and /metrics.
type pushd struct {
	name    string
	bin     string
	dir     string
	dbURL   string
	kubeDir string
	base    string // http://127.0.0.1:PORT
	extra   []string
	client  *pushdproc.Client // signs writes with a fresh webhook secret, reads with a fresh token
	proc    *pushdproc.Proc
	logf    *os.File // dir/pushd.log
}

func newPushd(name, bin, dir, dbURL string, extra []string) (*pushd, error) {
	if err := os.MkdirAll(filepath.Join(dir, "kubeconfigs"), 0o700); err != nil {
		return nil, err
	}
	key := make([]byte, 32)
	rand.Read(key)
	if dbURL == "" {
		dbURL = "sqlite://" + filepath.Join(dir, "pushd.db")
	}
	return &pushd{
		name: name, bin: bin, dir: dir, dbURL: dbURL, kubeDir: filepath.Join(dir, "kubeconfigs"), extra: extra,
		client: &pushdproc.Client{Secret: "whsec_" + base64.StdEncoding.EncodeToString(key), Token: testbed.RandomHex(16), MetricsToken: testbed.RandomHex(16),
			HTTP: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}},
	}, nil
}

// env is what the CLI and the server read: the database and the
// kubeconfig folder.
func (p *pushd) env() []string {
	return []string{"PUSHD_DATABASE_URL=" + p.dbURL, "PUSHD_KUBECONFIG_DIR=" + p.kubeDir}
}

// cli runs one admin command (pushd clusters …) against this pushd's state.
func (p *pushd) cli(ctx context.Context, args ...string) (string, error) {
	out, err := pushdproc.Run(ctx, p.bin, p.env(), args...)
	return string(out), err
}

// start runs `pushd serve` on a free loopback port, its output in
// dir/pushd.log, and waits for /readyz.
func (p *pushd) start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	port, err := testbed.FreePort()
	if err != nil {
		return err
	}
	if p.logf, err = os.Create(filepath.Join(p.dir, "pushd.log")); err != nil {
		return err
	}
	log := &logbuf.Buffer{}
	p.proc, err = pushdproc.Start(pushdproc.Options{
		Binary: p.bin, Addr: "127.0.0.1:" + strconv.Itoa(port),
		Args:         append([]string{"--log-level", "warn", "--shutdown-timeout", "3s"}, p.extra...),
		Env:          append(p.env(), "PUSHD_WEBHOOK_SECRETS="+p.client.Secret, "PUSHD_API_TOKENS="+p.client.Token, "PUSHD_METRICS_TOKEN="+p.client.MetricsToken),
		ReadyTimeout: 60 * time.Second, Log: log, Output: p.logf,
	})
	if err != nil {
		p.logf.Close()
		return fmt.Errorf("pushd %s: %w: %s", p.name, err, tail([]byte(log.String()), 2000))
	}
	p.base = p.proc.Base
	p.client.Base = p.proc.Base
	return nil
}

// stop ends the subprocess this benchmark started (SIGTERM, then SIGKILL
// after 8 s).
func (p *pushd) stop() {
	if p.proc == nil {
		return
	}
	stopped := make(chan struct{})
	go func() { p.proc.Stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(8 * time.Second):
		p.proc.Kill9()
		<-stopped
	}
	p.logf.Close()
	p.proc = nil
}

// write sends a signed write and decodes the answer into out (may be nil).
func (p *pushd) write(ctx context.Context, method, path string, body []byte, out any) (int, error) {
	resp, err := p.client.Write(ctx, method, path, "msg_"+testbed.RandomHex(12), body)
	return decode(resp, err, out)
}

// read sends an authenticated GET.
func (p *pushd) read(ctx context.Context, path string, out any) (int, error) {
	resp, err := p.client.Read(ctx, path)
	return decode(resp, err, out)
}

// decode makes an answer of 300 or more an error and decodes the body into
// out (may be nil).
func decode(resp *pushdproc.Response, err error, out any) (int, error) {
	if err != nil {
		return 0, err
	}
	if resp.Status >= 300 {
		return resp.Status, fmt.Errorf("%s %s: %d %s", resp.Request.Method, resp.Request.URL.Path, resp.Status, tail(resp.Body, 400))
	}
	if out != nil {
		if err := json.Unmarshal(resp.Body, out); err != nil {
			return resp.Status, fmt.Errorf("%s %s: %w", resp.Request.Method, resp.Request.URL.Path, err)
		}
	}
	return resp.Status, nil
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

// jobPage is one page of GET /api/v1/jobs.
type jobPage struct {
	Items []struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	} `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

// waitRequest polls until n jobs of the request ended. It lists the jobs
// (GET /api/v1/jobs?request_id=): the request's fleet view shows one entry
// per cluster and application (its newest job), and a request may hold
// several jobs of one application.
func (p *pushd) waitRequest(ctx context.Context, rid string, n int) error {
	for {
		counts := map[string]int{}
		path := "/api/v1/jobs?limit=500&request_id=" + url.QueryEscape(rid)
		for next := path; next != ""; {
			var page jobPage
			if _, err := p.read(ctx, next, &page); err != nil {
				return err
			}
			for _, j := range page.Items {
				counts[j.Status]++
			}
			next = ""
			if page.NextCursor != nil {
				next = path + "&cursor=" + url.QueryEscape(*page.NextCursor)
			}
		}
		done := counts["succeeded"] + counts["failed"] + counts["cancelled"]
		if done >= n {
			if counts["succeeded"] < n {
				return fmt.Errorf("request %s: %v", rid, counts)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("request %s: %v: %w", rid, counts, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (p *pushd) jobViews(ctx context.Context, jobs []jobSpec) (map[string]jobView, error) {
	out := map[string]jobView{}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, j := range jobs {
		g.Go(func() error {
			var v jobView
			if _, err := p.read(gctx, "/api/v1/jobs/"+j.ID, &v); err != nil {
				return err
			}
			mu.Lock()
			out[j.ID] = v
			mu.Unlock()
			return nil
		})
	}
	return out, g.Wait()
}

// appView is the part of an application's view the benchmark reads.
type appView struct {
	Namespace   string     `json:"namespace"`
	Application string     `json:"application"`
	Objects     int        `json:"objects"`
	Drift       string     `json:"drift"`
	CheckedAt   *time.Time `json:"checked_at"`
}

func (p *pushd) applications(ctx context.Context, cluster string) ([]appView, error) {
	var out []appView
	cursor := ""
	for {
		var page struct {
			Items      []appView `json:"items"`
			NextCursor *string   `json:"next_cursor"`
		}
		path := "/api/v1/clusters/" + cluster + "/applications?limit=100"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		if _, err := p.read(ctx, path, &page); err != nil {
			return nil, err
		}
		out = append(out, page.Items...)
		if page.NextCursor == nil || *page.NextCursor == "" {
			return out, nil
		}
		cursor = *page.NextCursor
	}
}

// processMetrics reads pushd's own /metrics (with the metrics token).
func (p *pushd) processMetrics(ctx context.Context) (rss, goroutines float64, err error) {
	resp, err := p.client.Read(ctx, "/metrics")
	if err != nil {
		return 0, 0, err
	}
	m, err := parseMetrics(bytes.NewReader(resp.Body))
	if err != nil {
		return 0, 0, err
	}
	rss, ok1 := m.sum("process_resident_memory_bytes")
	goroutines, ok2 := m.sum("go_goroutines")
	if !ok1 || !ok2 {
		// Fall back to the kernel's figure for RSS.
		if r, err := procRSS(p.proc.Pid()); err == nil {
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
