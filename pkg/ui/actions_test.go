package ui_test

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/vworkspace/pushd/pkg/api"
	"github.com/vworkspace/pushd/pkg/jobs"
)

// TestActions drives the UI's actions on the demo fleet: each is refused
// without the session's anti-forgery token (no Sec-Fetch-Site header: the
// token alone must stop it), and with it reaches its service, is logged,
// and answers a redirect to the page it came from with its notice.
func TestActions(t *testing.T) {
	d, s, acme := acmeOnDemo(t)
	token := acme.csrf()
	status := func(id string) jobs.Status {
		t.Helper()
		p, _ := d.jobs.List(t.Context(), "acme", jobs.ListOptions{Limit: 500})
		for _, j := range p.Items {
			if j.ID == id {
				return j.Status
			}
		}
		t.Fatalf("no job %s", id)
		return ""
	}

	t.Run("forged posts are refused", func(t *testing.T) {
		for _, form := range []url.Values{nil, {"csrf": {"forged"}}, {"csrf": {token + "x"}}} {
			if p := acme.post("/ui/jobs/"+d.queued+"/cancel", form); p.status != http.StatusForbidden {
				t.Errorf("cancel with %v: %d, want 403", form, p.status)
			}
		}
		for _, path := range []string{"/ui/clusters/acme-prod-1/drift-check", "/ui/requests/" + d.wiki + "/cancel", "/ui/callbacks/evt-parked/resend", "/ui/logout"} {
			if p := acme.post(path, nil); p.status != http.StatusForbidden {
				t.Errorf("%s without a token: %d", path, p.status)
			}
		}
		other := s.loggedIn(t, acmeToken) // a token of another session is no good either
		if p := other.post("/ui/jobs/"+d.queued+"/cancel", url.Values{"csrf": {token}}); p.status != http.StatusForbidden {
			t.Errorf("cancel with another session's token: %d", p.status)
		}
		if len(d.jobs.Cancelled) != 0 || len(d.inv.DriftChecks) != 0 || len(d.cbs.ParkedEvents("acme")) != 1 {
			t.Fatalf("a refused post reached its service: cancelled %v, drift checks %v", d.jobs.Cancelled, d.inv.DriftChecks)
		}
		if !strings.Contains(s.logs.String(), "anti-forgery") {
			t.Error("refusals are not logged")
		}
	})

	t.Run("cancel a queued job, and a whole request", func(t *testing.T) {
		for _, c := range []struct{ path, back, job, notice string }{
			{"/ui/jobs/" + d.queued, "/ui/jobs/" + d.queued + "?done=cancel", d.queued, "Cancel requested: a queued job"},
			{"/ui/requests/" + d.wiki, "/ui/requests/" + d.wiki + "?done=cancel-request", d.running, "Cancel requested for every"},
		} {
			acme.act(c.path+"/cancel", token, nil, c.back)
			if st := status(c.job); st != jobs.Cancelled {
				t.Errorf("after %s/cancel the job %s is %s", c.path, c.job, st)
			}
			mustContain(t, c.back, acme.get(c.back), c.notice, "status-cancelled")
		}
		if !strings.Contains(s.logs.String(), "action=cancel-job") || !strings.Contains(s.logs.String(), d.queued) || !strings.Contains(s.logs.String(), "action=cancel-request") {
			t.Error("the cancels are not logged")
		}
		acme.act("/ui/requests/"+d.wiki+"/cancel", token, nil, "/ui/requests/"+d.wiki+"?done=nothing-to-cancel") // nothing left to cancel
	})

	t.Run("jobs list filters", func(t *testing.T) {
		p := acme.get("/ui/jobs?application=wiki")
		mustContain(t, "wiki jobs", p, d.running, d.queued)
		mustNotContain(t, "wiki jobs", p, d.job)
		p = acme.get("/ui/jobs?status=succeeded&trigger=odoo&cluster=acme-prod-1")
		mustContain(t, "succeeded jobs", p, d.job, d.secretJob)
		mustNotContain(t, "succeeded jobs", p, d.running)
		mustContain(t, "request filter", acme.get("/ui/jobs?request="+d.wiki), d.running)
		mustContain(t, "failed jobs", acme.get("/ui/jobs?status=failed"), d.failed)

		// One a page: "More" leads to the next one, with the filters kept.
		p = acme.get("/ui/jobs?application=wiki&limit=1")
		mustContain(t, "first page", p, d.queued, `class="more"`)
		mustNotContain(t, "first page", p, d.running)
		m := regexp.MustCompile(`class="more" href="([^"]+)"`).FindStringSubmatch(p.body)
		if m == nil {
			t.Fatal("no link to more jobs")
		}
		p = acme.get(strings.ReplaceAll(m[1], "&amp;", "&"))
		mustContain(t, "second page", p, d.running)
		mustNotContain(t, "second page", p, d.queued, `class="more"`)
	})

	t.Run("fleet pages", func(t *testing.T) {
		seen := map[string]bool{}
		next := "/ui/?limit=1"
		for i := 0; next != "" && i < 10; i++ {
			p := acme.get(next)
			ids := regexp.MustCompile(`<div class="sub id">([^<]+)</div>`).FindAllStringSubmatch(p.body, -1)
			if len(ids) != 1 {
				t.Fatalf("%s shows %d clusters, want 1", next, len(ids))
			}
			seen[ids[0][1]] = true
			next = ""
			if m := regexp.MustCompile(`class="more" href="([^"]+)"`).FindStringSubmatch(p.body); m != nil {
				next = strings.ReplaceAll(m[1], "&amp;", "&")
			}
			mustContain(t, "every page's summary", p, "<strong>1</strong> of 3 not ready", "<strong>1</strong> application failed") // counts every cluster
		}
		if len(seen) != 3 || !seen["acme-prod-1"] || !seen["acme-edge-down"] || !seen["acme-canary-1"] {
			t.Errorf("the pages showed %v, want acme's 3 clusters once each", seen)
		}
	})

	t.Run("a missing namespace is one line with its fix", func(t *testing.T) {
		p := acme.get("/ui/clusters/acme-prod-1")
		mustContain(t, "cluster page", p, `<td class="id">`+missingNSName+`</td>`, "does not exist</span>: create it, label it")
		row := p.body[strings.Index(p.body, `<td class="id">`+missingNSName):]
		row = row[:strings.Index(row, "</tr>")]
		if strings.Contains(row, "missing") {
			t.Errorf("the missing namespace lists missing rights:\n%s", row)
		}
	})

	t.Run("drift check from the application page, which shows the field, its manager and the values", func(t *testing.T) {
		app := "/ui/clusters/acme-prod-1/applications/" + d.ns + "/nextcloud"
		acme.act("/ui/clusters/acme-prod-1/drift-check", token, url.Values{"back": {app}}, app+"?done=drift-check")
		if !slices.Equal(d.inv.DriftChecks, []string{"acme-prod-1"}) || !strings.Contains(s.logs.String(), "action=drift-check") {
			t.Errorf("the drift check did not reach the inventory (%v) or the log", d.inv.DriftChecks)
		}
		mustContain(t, "application page", acme.get(app+"?done=drift-check"), "Drift check requested", "drift-drifted", "ConfigMap/settings", ".data.k", driftManager,
			`<code class="good">&#34;v&#34;</code>`, `<code class="bad">&#34;bobs-value&#34;</code>`, // desired and live
			`class="id reference" href="/ui/jobs/`+d.secretJob+`"`) // the latest intent is the reference
		for _, back := range []string{"https://evil.example/", "//evil.example/ui/", `/ui/\evil`} {
			acme.act("/ui/clusters/acme-prod-1/drift-check", token, url.Values{"back": {back}}, "/ui/clusters/acme-prod-1?done=drift-check") // not to back
		}
	})

	t.Run("another organization's", func(t *testing.T) {
		globex := s.loggedIn(t, globexToken)
		csrf, checks := globex.csrf(), len(d.inv.DriftChecks)
		for _, path := range []string{"/ui/jobs/" + d.secretJob + "/cancel", "/ui/requests/req-" + d.ns + "/cancel", "/ui/clusters/acme-prod-1/drift-check",
			"/ui/callbacks/evt-parked/resend"} {
			if p := globex.post(path, url.Values{"csrf": {csrf}}); p.status != http.StatusNotFound {
				t.Errorf("globex posts %s: %d, want 404", path, p.status)
			}
		}
		if len(d.inv.DriftChecks) != checks || len(d.cbs.ParkedEvents("acme")) != 1 || slices.Contains(d.jobs.Cancelled, d.secretJob) {
			t.Errorf("another organization's post reached a service: drift checks %v, cancelled %v", d.inv.DriftChecks, d.jobs.Cancelled)
		}
	})

	t.Run("re-send a parked callback", func(t *testing.T) {
		acme.act("/ui/callbacks/evt-parked/resend", token, nil, "/ui/callbacks?done=resend")
		mustNotContain(t, "callbacks page", acme.get("/ui/callbacks?done=resend"), "evt-parked")
		mustContain(t, "fleet", acme.get("/ui/"), "<strong>0</strong> parked callbacks<")
		if !strings.Contains(s.logs.String(), "action=resend-callback") {
			t.Error("the re-send is not logged")
		}
		if p := acme.post("/ui/callbacks/evt-parked/resend", url.Values{"csrf": {token}}); p.status != http.StatusNotFound {
			t.Errorf("re-send of a callback no longer parked: %d", p.status)
		}
	})

}

// Without a callback URL nothing is parked: the page says so, the fleet
// counts none.
func TestCallbacksOff(t *testing.T) {
	d := newDemo()
	d.deps.Callbacks = nil
	acme := serve(t, d.deps, api.Options{}).loggedIn(t, acmeToken)
	mustContain(t, "callbacks page", acme.get("/ui/callbacks"), "Callbacks are off")
	mustNotContain(t, "fleet", acme.get("/ui/"), "parked callback")
	if p := acme.post("/ui/callbacks/evt-parked/resend", url.Values{"csrf": {acme.csrf()}}); p.status != http.StatusNotFound {
		t.Errorf("re-send with callbacks off: %d", p.status)
	}
}
