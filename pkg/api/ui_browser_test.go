package api_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/vworkspace/pushd/internal/dbtest"
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

// TestUIInBrowser drives headless chromium through the UI as a person
// would: log in through the form, read the fleet table, click through to a
// cluster and one of its jobs, log out. It proves the pages work in a real
// browser with no JavaScript of ours, that the session cookie is invisible
// to scripts (HttpOnly), and leaves a screenshot of the fleet.
func TestUIInBrowser(t *testing.T) {
	exe := chromium(t)
	e := newEnv(t, dbtest.Database{Driver: "sqlite", DSN: filepath.Join(t.TempDir(), "pushd.db")})
	f := newUIFleet(t, e)

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
	defer cancelAlloc()
	ctx, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithErrorf(t.Logf))
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()

	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return v
	}
	location := func() string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Location())
		if err != nil {
			t.Fatal(err)
		}
		return v
	}

	// Not logged in: the login form; a wrong token is refused in the page.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(e.url+"/ui/"),
		chromedp.WaitVisible(chromedp.CSS(`input[name="token"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="token"]`), "wrong-token"),
		chromedp.Click(chromedp.CSS(`section.login button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`p.error`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="token"]`), acmeToken),
		chromedp.Click(chromedp.CSS(`section.login button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`table.fleet`)),
	); err != nil {
		t.Fatalf("log in: %v", err)
	}
	fleet := text(`table.fleet`)
	for _, want := range []string{"Production 1", "prod-1", "canary-1", `<script>alert("x")</script> Staging`, "ready", "unauthorized", "1 succeeded"} {
		if !strings.Contains(fleet, want) {
			t.Errorf("fleet table lacks %q:\n%s", want, fleet)
		}
	}
	if strings.Contains(fleet, "globex") {
		t.Errorf("fleet table shows globex's cluster:\n%s", fleet)
	}
	cookie, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.cookie`))
	if err != nil {
		t.Fatal(err)
	}
	if cookie != "" {
		t.Errorf("scripts can read cookies %q: the session cookie must be HttpOnly", cookie)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100: PNG
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(t.TempDir(), "fleet.png"), "/tmp/pushd-ui-fleet.png"} {
		if err := os.WriteFile(p, shot, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("fleet screenshot: /tmp/pushd-ui-fleet.png (%d bytes)", len(shot))

	// Click through to the cluster, then to its job.
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`a[href="/ui/clusters/prod-1"]`)),
		chromedp.WaitVisible(chromedp.CSS(`table.namespaces`)),
	); err != nil {
		t.Fatalf("cluster page: %v", err)
	}
	if ns := text(`table.namespaces`); !strings.Contains(ns, f.ns) {
		t.Errorf("namespaces table lacks %s:\n%s", f.ns, ns)
	}
	if apps := text(`table.applications`); !strings.Contains(apps, "nextcloud") || !strings.Contains(apps, f.ns) {
		t.Errorf("applications table lacks nextcloud in %s:\n%s", f.ns, apps)
	}
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`table.jobs a[href="/ui/jobs/`+f.job+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(`table.objects`)),
	); err != nil {
		t.Fatalf("job page: %v", err)
	}
	objects := text(`table.objects`)
	if loc := location(); loc != e.url+"/ui/jobs/"+f.job || !strings.Contains(objects, "ConfigMap") || !strings.Contains(objects, f.ns+"/settings") {
		t.Errorf("job page %s objects:\n%s", loc, objects)
	}

	// Log out: the session is over, pages lead to the login form again.
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`form.logout button`)),
		chromedp.WaitVisible(chromedp.CSS(`input[name="token"]`)),
		chromedp.Navigate(e.url+"/ui/clusters/prod-1"),
		chromedp.WaitVisible(chromedp.CSS(`input[name="token"]`)),
	); err != nil {
		t.Fatalf("log out: %v", err)
	}
	if loc := location(); loc != e.url+"/ui/login" {
		t.Errorf("after logout a cluster page led to %s, want the login form", loc)
	}
}
