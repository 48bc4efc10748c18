package ui_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/vworkspace/pushd/pkg/api"
	"github.com/vworkspace/pushd/pkg/apply"
	"github.com/vworkspace/pushd/pkg/health"
	"github.com/vworkspace/pushd/pkg/jobs"
)

// chromium finds Debian's headless-capable chromium. Without one the
// browser test is skipped with the reason, except in CI, where it fails:
// CI must never pass without having driven a real browser.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is required in CI for the browser test: apt-get install -y chromium")
	}
	t.Skip("chromium not found (apt-get install -y chromium): skipping the browser test")
	return ""
}

// screenshotDir is where the browser test writes a screenshot of every
// page (a test artifact): $PUSHD_UI_SCREENSHOTS, or the test's temporary
// folder.
func screenshotDir(t *testing.T) string {
	if d := os.Getenv("PUSHD_UI_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// readmeShots are the screenshots the README shows. With $PUSHD_UI_DOCS set
// the browser test also writes them there; the README's are refreshed with
//
//	PUSHD_UI_DOCS=$PWD/docs/screenshots go test -count=1 -run TestUIInBrowser ./pkg/ui/
var readmeShots = map[string]bool{
	"fleet-unreachable": true, "cluster": true, "application": true, "job": true, "request": true, "jobs": true, "fleet-390": true, "audit": true,
}

// browser is one headless chromium tab on a test's UI.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string
	dir  string
}

func newBrowser(t *testing.T, base string) *browser {
	exe := chromium(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1440, 900),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(cancelBrowser)
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(cancel)
	b := &browser{t: t, ctx: ctx, base: base, dir: screenshotDir(t)}
	t.Logf("screenshots: %s", b.dir)
	return b
}

func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return v
}

// js evaluates expr in the page (through the DevTools protocol, which the
// page's CSP does not govern).
func js[T any](b *browser, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// until waits for expr to be true in the page.
func (b *browser) until(what, expr string, within time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(within)
	for !js[bool](b, expr) {
		if time.Now().After(deadline) {
			b.t.Fatalf("%s: not within %s (%s)", what, within, expr)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (b *browser) shot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100)) // quality 100: PNG
	if err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	if docs := os.Getenv("PUSHD_UI_DOCS"); docs != "" && readmeShots[name] {
		if err := os.WriteFile(filepath.Join(docs, name+".png"), png, 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
}

// fits fails when the page scrolls sideways at the current width.
func (b *browser) fits(page string) {
	b.t.Helper()
	if over := js[int](b, `document.documentElement.scrollWidth - window.innerWidth`); over > 0 {
		wide := js[[]string](b, `[...document.querySelectorAll('main *')].filter(e => e.getBoundingClientRect().right > window.innerWidth && !e.closest('.scroll')).slice(0, 4).map(e => e.tagName + '.' + e.className + ': ' + e.textContent.slice(0, 60))`)
		b.t.Errorf("%s spills %d px out of a %d px window: %q", page, over, js[int](b, `window.innerWidth`), wide)
	}
}

// TestUIInBrowser drives headless chromium through the UI on the demo
// fleet as a platform engineer would: sign in; see a cluster go down on
// the fleet without a reload (the monitor observes it unreachable); open a drifted application, see the field
// and the manager, run a drift check from the page; cancel a queued job;
// open a request; every page at a laptop's 900 px and a phone's width.
// Hostile names stay text. It writes a screenshot of every page.
func TestUIInBrowser(t *testing.T) {
	d := newDemo()
	e := serve(t, d.deps, api.Options{})
	b := newBrowser(t, e.url)

	// Not logged in: the login form; a wrong token is refused in the page.
	b.do("login form",
		chromedp.Navigate(e.url+"/"),
		chromedp.WaitVisible(chromedp.CSS(`input[name="token"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="token"]`), "wrong-token"),
		chromedp.Click(chromedp.CSS(`section.login button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`p.error`)),
	)
	b.shot("login")
	b.do("log in",
		chromedp.SendKeys(chromedp.CSS(`input[name="token"]`), acmeToken),
		chromedp.Click(chromedp.CSS(`section.login button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`table.fleet`)),
	)
	fleet := b.text(`table.fleet`)
	for _, want := range []string{"Production 1", "acme-prod-1", "acme-canary-1", `<script>alert("x")</script> Staging`, hostileName, "ready", "unauthorized", "succeeded"} {
		if !strings.Contains(fleet, want) {
			t.Errorf("fleet table lacks %q:\n%s", want, fleet)
		}
	}
	if strings.Contains(fleet, "globex") {
		t.Errorf("fleet table shows globex's cluster:\n%s", fleet)
	}
	if n := js[int](b, `document.querySelectorAll('img, script:not([src="/ui/static/live.js"])').length`); n != 0 {
		t.Errorf("a hostile name became %d elements", n)
	}
	if cookie := js[string](b, `document.cookie`); cookie != "" {
		t.Errorf("scripts can read cookies %q: the session cookie must be HttpOnly", cookie)
	}
	b.shot("fleet")

	// acme-edge-down's page while it is up, then back to the fleet.
	b.do("acme-edge-down page", chromedp.Click(chromedp.CSS(`a[href="/ui/clusters/acme-edge-down"]`)), chromedp.WaitVisible(chromedp.CSS(`#connection`)))
	version := js[string](b, `document.querySelector('#connection').textContent.match(/v1\.\d+\.\d+/)?.[0] || ''`)
	if version == "" {
		t.Fatalf("acme-edge-down shows no server version while up:\n%s", b.text(`#connection`))
	}
	b.do("fleet again", chromedp.Navigate(e.url+"/ui/"), chromedp.WaitVisible(chromedp.CSS(`table.fleet`)))

	// acme-edge-down goes down: the fleet shows it within a refresh (3 s),
	// without a reload of the page.
	js[int](b, `window.pushdNoReload = 42`)
	down := time.Now()
	d.health.Set("acme-edge-down", health.Status{Connectivity: health.Connectivity{State: health.StateUnreachable, CheckedAt: &down, Breaker: "closed", Message: refusedDial}})
	row := `[...document.querySelectorAll('table.fleet tbody tr')].find(r => r.textContent.includes('acme-edge-down'))`
	b.until("acme-edge-down shown unreachable", row+`.querySelector('.state-unreachable') !== null`, 20*time.Second)
	if js[int](b, `window.pushdNoReload || 0`) != 42 {
		t.Error("the page was reloaded to show the change")
	}
	if reason := js[string](b, row+`.querySelector('.reason').textContent`); !strings.Contains(reason, "connection refused") || strings.Contains(reason, "dial tcp") {
		t.Errorf("the reason is %q, want a sentence, not a Go error", reason)
	}
	b.shot("fleet-unreachable")

	// Its page keeps the last known version and namespaces, dated, with the reason.
	b.do("acme-edge-down page, down", chromedp.Navigate(e.url+"/ui/clusters/acme-edge-down"), chromedp.WaitVisible(chromedp.CSS(`#connection`)))
	if conn, ns := b.text(`#connection`), b.text(`#namespaces`); !strings.Contains(conn, version) || !strings.Contains(ns, d.ns) || strings.Contains(ns, "not been probed") {
		t.Errorf("an unreachable cluster's page dropped what was last known (%s):\n%s\n%s", version, conn, ns)
	}
	if head := b.text(`#head`); !strings.Contains(head, "connection refused") {
		t.Errorf("the unreachable cluster's page gives no reason:\n%s", head)
	}
	b.shot("cluster-unreachable")
	b.do("fleet once more", chromedp.Navigate(e.url+"/ui/"), chromedp.WaitVisible(chromedp.CSS(`table.fleet`)))

	// The cluster, then its drifted application; a drift check from the page.
	b.do("cluster page",
		chromedp.Click(chromedp.CSS(`a[href="/ui/clusters/acme-prod-1"]`)),
		chromedp.WaitVisible(chromedp.CSS(`table.namespaces`)),
	)
	if ns := b.text(`table.namespaces`); !strings.Contains(ns, d.ns) || !strings.Contains(ns, missingNSName+"\tdoes not exist") && !strings.Contains(ns, "does not exist: create it") {
		t.Errorf("namespaces table:\n%s", ns)
	}
	b.shot("cluster")
	app := "/ui/clusters/acme-prod-1/applications/" + d.ns + "/nextcloud"
	b.do("application page",
		chromedp.Click(chromedp.CSS(`table.applications a[href="`+app+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.tiles`)),
		chromedp.Click(chromedp.CSS(`form.action button`)),
		chromedp.WaitVisible(chromedp.CSS(`p.notice`)),
	)
	b.until("the drift check's result", `document.body.textContent.includes('`+driftManager+`')`, 30*time.Second)
	drifted := b.text(`table.drifted`)
	for _, want := range []string{"ConfigMap/settings", ".data.k", driftManager, `"v"`, `"bobs-value"`} {
		if !strings.Contains(drifted, want) {
			t.Errorf("drifted fields lack %q:\n%s", want, drifted)
		}
	}
	b.shot("application")

	// A page of another site (another port on this host: the same "site"
	// to the browser, so the SameSite cookie goes along and Sec-Fetch-Site
	// says same-site) posts a cancel: only the missing token stops it.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, `<!doctype html><form method="post" action="%s/ui/jobs/%s/cancel"><button id="go">win a prize</button></form>`, e.url, d.queued)
	}))
	t.Cleanup(evil.Close)
	b.do("forged cancel", chromedp.Navigate(evil.URL), chromedp.Click(chromedp.CSS(`#go`)), chromedp.WaitVisible(chromedp.CSS(`section.problem`)))
	if problem := b.text(`section.problem`); !strings.Contains(problem, "403") {
		t.Errorf("the forged cancel was not refused:\n%s", problem)
	}
	if len(d.jobs.Cancelled) != 0 {
		t.Fatalf("a forged post cancelled %v", d.jobs.Cancelled)
	}

	// Cancel the queued job from its page.
	b.do("cancel a queued job",
		chromedp.Navigate(e.url+"/ui/jobs/"+d.queued),
		chromedp.WaitVisible(chromedp.CSS(`h1 .status-queued`)),
		chromedp.Click(chromedp.CSS(`form.action button.danger`)),
		chromedp.WaitVisible(chromedp.CSS(`h1 .status-cancelled`)),
	)
	b.shot("job")

	// The request, the jobs list, the parked callbacks.
	b.do("request page", chromedp.Navigate(e.url+"/ui/requests/"+d.wiki), chromedp.WaitVisible(chromedp.CSS(`table.jobs`)))
	if req := b.text(`#request`); !strings.Contains(req, d.running) || !strings.Contains(req, "running") {
		t.Errorf("request page:\n%s", req)
	}
	b.shot("request")
	b.do("jobs list", chromedp.Navigate(e.url+"/ui/jobs?cluster=acme-prod-1"), chromedp.WaitVisible(chromedp.CSS(`table.jobs`)))
	b.shot("jobs")
	b.do("callbacks", chromedp.Navigate(e.url+"/ui/callbacks"), chromedp.WaitVisible(chromedp.CSS(`h1`)))
	b.shot("callbacks")
	b.do("audit log", chromedp.Navigate(e.url+"/ui/audit"), chromedp.WaitVisible(chromedp.CSS(`table.audit`)))
	if log := b.text(`table.audit`); !strings.Contains(log, "record.written") || !strings.Contains(log, "ui.login") || !strings.Contains(log, "acme-edge-down") {
		t.Errorf("audit page:\n%s", log)
	}
	b.shot("audit")

	// A laptop at 900 px and a phone: nothing spills out of the page, ids do not wrap.
	for _, w := range []int64{900, 390} {
		b.do("resize", chromedp.EmulateViewport(w, 900))
		for _, p := range []struct{ name, path string }{{"fleet", "/ui/"}, {"cluster", "/ui/clusters/acme-prod-1"}, {"application", app}, {"jobs", "/ui/jobs"}, {"job", "/ui/jobs/" + d.job}, {"audit", "/ui/audit"}} {
			b.do(p.name, chromedp.Navigate(e.url+p.path), chromedp.WaitVisible(chromedp.CSS(`main`)))
			b.fits(p.name + " at " + strconv.Itoa(int(w)) + " px")
			b.shot(p.name + "-" + strconv.Itoa(int(w)))
		}
		if wrapped := js[int](b, `[...document.querySelectorAll('.id')].filter(e => e.getClientRects().length > 1).length`); wrapped > 0 {
			t.Errorf("%d ids wrap at %d px", wrapped, w)
		}
	}
	b.do("resize back", chromedp.EmulateViewport(1440, 900))

	// Log out: the session is over, pages lead to the login form again.
	b.do("log out",
		chromedp.Navigate(e.url+"/ui/"),
		chromedp.Click(chromedp.CSS(`form.logout button`)),
		chromedp.WaitVisible(chromedp.CSS(`input[name="token"]`)),
		chromedp.Navigate(e.url+"/ui/clusters/acme-prod-1"),
		chromedp.WaitVisible(chromedp.CSS(`input[name="token"]`)),
	)
}

// login signs the browser in as acme.
func (b *browser) login() {
	b.t.Helper()
	b.do("log in",
		chromedp.Navigate(b.base+"/ui/login"),
		chromedp.WaitVisible(chromedp.CSS(`input[name="token"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="token"]`), acmeToken),
		chromedp.Click(chromedp.CSS(`section.login button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`nav`)),
	)
}

// TestUIJobPageIsLive: a running job's page, opened before the job wrote
// anything, shows each object and its kstatus, and the run's retries, as
// the job service reports them — without a reload — and once the job is
// final it stops refreshing: a later change never shows.
func TestUIJobPageIsLive(t *testing.T) {
	d := newDemo()
	started := time.Now()
	d.jobs.Jobs = append(d.jobs.Jobs, &jobs.Job{ID: "live-1", Organization: "acme", Cluster: "acme-prod-1", Namespace: "apps", Application: "nextcloud",
		Operation: jobs.Operation{Engine: "manifest", Type: "deploy"}, Action: jobs.ActionApply, Trigger: jobs.TriggerOdoo, TimeoutSeconds: 300,
		Status: jobs.Running, Attempt: 1, CreatedAt: started, StartedAt: &started, Objects: []apply.ObjectResult{}, Retries: []jobs.Retry{}})
	e := serve(t, d.deps, api.Options{})
	object := func(kind, name, status string) apply.ObjectResult {
		return apply.ObjectResult{ObjectRef: apply.ObjectRef{Version: "v1", Kind: kind, Namespace: "apps", Name: name}, Action: apply.ActionCreated, Status: status}
	}
	progress := func(change func(j *jobs.Job)) { d.jobs.Update("live-1", change) }

	b := newBrowser(t, e.url)
	b.login()
	b.do("the running job's page",
		chromedp.Navigate(e.url+"/ui/jobs/live-1"),
		chromedp.WaitVisible(chromedp.CSS(`h1 .status-running`)),
	)
	if got := b.text(`#job`); !strings.Contains(got, "No object results yet") {
		t.Fatalf("a job that wrote nothing shows objects:\n%s", got)
	}
	js[int](b, `window.pushdNoReload = 7`)
	objects := `(document.querySelector('#job table.objects')?.textContent || '')`

	// The first object is written; its kstatus is InProgress.
	progress(func(j *jobs.Job) { j.Objects = []apply.ObjectResult{object("ConfigMap", "settings", "InProgress")} })
	b.until("the first object", objects+`.includes('apps/settings') && !!document.querySelector('#job .kstatus-InProgress')`, 15*time.Second)

	// It becomes Current, a second one is written, and a write was retried.
	progress(func(j *jobs.Job) {
		j.Retries = []jobs.Retry{{At: time.Now(), Error: "the API server answered 503: retried"}}
		j.Objects = []apply.ObjectResult{object("ConfigMap", "settings", "Current"), object("Service", "web", "InProgress")}
	})
	b.until("the kstatus change, the second object and the retry",
		objects+`.includes('apps/web') && document.querySelectorAll('#job .kstatus-Current').length === 1 && `+
			`(document.querySelector('#job table.retries')?.textContent || '').includes('answered 503')`, 15*time.Second)
	if js[int](b, `window.pushdNoReload || 0`) != 7 {
		t.Fatal("the page was reloaded to show the progress")
	}
	b.shot("job-live")

	// The job ends: the page shows it, then stops refreshing.
	progress(func(j *jobs.Job) {
		finished := time.Now()
		j.Status, j.FinishedAt = jobs.Succeeded, &finished
		j.Objects = []apply.ObjectResult{object("ConfigMap", "settings", "Current"), object("Service", "web", "Current")}
	})
	b.until("the job's end", `!!document.querySelector('h1 .status-succeeded') && document.querySelectorAll('#job .kstatus-Current').length === 2`, 15*time.Second)
	if n := js[int](b, `document.querySelectorAll('[data-live]').length`); n != 0 {
		t.Errorf("a final job's page still has %d live sections", n)
	}
	last := js[string](b, `document.documentElement.dataset.refreshed || ''`)
	// Nothing in pushd changes a final job: the test does, to see no refresh shows it.
	progress(func(j *jobs.Job) { j.Objects = append(slices.Clone(j.Objects), object("Secret", "late", "InProgress")) })
	time.Sleep(3*time.Second + 3*time.Second + time.Second) // two refresh intervals (3 s) and some
	if now := js[string](b, `document.documentElement.dataset.refreshed || ''`); now != last || strings.Contains(b.text(`#job`), "apps/late") {
		t.Errorf("the final job's page still refreshes (last refresh %s, then %s):\n%s", last, now, b.text(`#job`))
	}
	if js[int](b, `window.pushdNoReload || 0`) != 7 {
		t.Error("the page was reloaded")
	}
}
