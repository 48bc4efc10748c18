package api_test

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vworkspace/pushd/internal/dbtest"
)

// TestUIActions drives the UI's actions over real HTTP on the demo fleet:
// each is refused without the session's anti-forgery token (no
// Sec-Fetch-Site header: the token alone must stop it), done and logged
// with it; and the pages show what the API knows: the drifted field with
// its manager and both values, a missing namespace as one line with its
// fix, Secret values never.
func TestUIActions(t *testing.T) {
	e := newEnv(t, dbtest.Database{Driver: "sqlite", DSN: filepath.Join(t.TempDir(), "pushd.db")})
	d := newUIDemo(t, e)
	acme := newUIClient(t, e)
	if r := acme.login(t, acmeToken); r.status != http.StatusSeeOther {
		t.Fatalf("login: %d", r.status)
	}
	token := acme.csrf(t)

	t.Run("root and OpenAPI", func(t *testing.T) {
		if r := acme.get(t, "/"); r.status != http.StatusSeeOther || r.header.Get("Location") != "/ui/" {
			t.Errorf("GET /: %d %v", r.status, r.header)
		}
		if r := acme.get(t, "/api/v1/openapi.yaml"); r.status != http.StatusOK || !strings.Contains(string(r.body), "openapi: 3.1") {
			t.Errorf("openapi.yaml: %d %.80s", r.status, r.body)
		}
	})

	t.Run("forged posts are refused", func(t *testing.T) {
		for _, form := range []url.Values{nil, {"csrf": {"forged"}}, {"csrf": {token + "x"}}} {
			if r := acme.post(t, "/ui/jobs/"+d.queued+"/cancel", form); r.status != http.StatusForbidden {
				t.Errorf("cancel with %v: %d, want 403", form, r.status)
			}
		}
		if r := acme.post(t, "/ui/clusters/acme-prod-1/drift-check", nil); r.status != http.StatusForbidden {
			t.Errorf("drift check without a token: %d", r.status)
		}
		other := newUIClient(t, e) // a token of another session is no good either
		other.login(t, acmeToken)
		if r := other.post(t, "/ui/jobs/"+d.queued+"/cancel", url.Values{"csrf": {token}}); r.status != http.StatusForbidden {
			t.Errorf("cancel with another session's token: %d", r.status)
		}
		if st := e.read(t, "/api/v1/jobs/"+d.queued, acmeToken).json(t)["status"]; st != "queued" {
			t.Fatalf("a refused cancel changed the job: %v", st)
		}
		if !strings.Contains(e.logs.String(), "anti-forgery") {
			t.Error("refusals are not logged")
		}
	})

	t.Run("cancel a queued job", func(t *testing.T) {
		r := acme.post(t, "/ui/jobs/"+d.queued+"/cancel", url.Values{"csrf": {token}})
		if r.status != http.StatusSeeOther || r.header.Get("Location") != "/ui/jobs/"+d.queued+"?done=cancel" {
			t.Fatalf("cancel: %d %v", r.status, r.header)
		}
		waitJob(t, e, d.queued, "cancelled")
		mustContain(t, "job page after cancel", acme.get(t, "/ui/jobs/"+d.queued+"?done=cancel"), "Cancel requested", "status-cancelled")
		if !strings.Contains(e.logs.String(), "action=cancel-job") || !strings.Contains(e.logs.String(), d.queued) {
			t.Error("the cancel is not logged")
		}
	})

	t.Run("request page and cancel of a whole request", func(t *testing.T) {
		r := acme.get(t, "/ui/requests/"+d.wiki)
		mustContain(t, "request page", r, d.running, "status-running", "Cancel every unfinished job")
		r = acme.post(t, "/ui/requests/"+d.wiki+"/cancel", url.Values{"csrf": {token}})
		if r.status != http.StatusSeeOther {
			t.Fatalf("cancel request: %d %s", r.status, r.body)
		}
		waitJob(t, e, d.running, "cancelled")
	})

	t.Run("jobs list filters", func(t *testing.T) {
		r := acme.get(t, "/ui/jobs?application=wiki")
		mustContain(t, "wiki jobs", r, d.running, d.queued)
		mustNotContain(t, "wiki jobs", r, d.job)
		r = acme.get(t, "/ui/jobs?status=succeeded&trigger=odoo&cluster=acme-prod-1")
		mustContain(t, "succeeded jobs", r, d.job, d.secretJob)
		mustNotContain(t, "succeeded jobs", r, d.running)
		mustContain(t, "request filter", acme.get(t, "/ui/jobs?request="+d.wiki), d.running)

		// One a page: "More" leads to the next one, with the filters kept.
		r = acme.get(t, "/ui/jobs?application=wiki&limit=1")
		mustContain(t, "first page", r, d.queued, `class="more"`)
		mustNotContain(t, "first page", r, d.running)
		m := regexp.MustCompile(`class="more" href="([^"]+)"`).FindSubmatch(r.body)
		if m == nil {
			t.Fatal("no link to more jobs")
		}
		next := strings.ReplaceAll(string(m[1]), "&amp;", "&")
		r = acme.get(t, next)
		mustContain(t, "second page", r, d.running)
		mustNotContain(t, "second page", r, d.queued, `class="more"`)
	})

	t.Run("fleet pages", func(t *testing.T) {
		seen := map[string]bool{}
		next := "/ui/?limit=1"
		for i := 0; next != "" && i < 10; i++ {
			r := acme.get(t, next)
			ids := regexp.MustCompile(`<div class="sub id">([^<]+)</div>`).FindAllSubmatch(r.body, -1)
			if len(ids) != 1 {
				t.Fatalf("%s shows %d clusters, want 1", next, len(ids))
			}
			seen[string(ids[0][1])] = true
			next = ""
			if m := regexp.MustCompile(`class="more" href="([^"]+)"`).FindSubmatch(r.body); m != nil {
				next = strings.ReplaceAll(string(m[1]), "&amp;", "&")
			}
			mustContain(t, "every page's summary", r, "<strong>1</strong> of 3 not ready") // counts every cluster
		}
		if len(seen) != 3 || !seen["acme-prod-1"] || !seen["acme-edge-down"] || !seen["acme-canary-1"] {
			t.Errorf("the pages showed %v, want acme's 3 clusters once each", seen)
		}
	})

	t.Run("Secret values never shown", func(t *testing.T) {
		r := acme.get(t, "/ui/jobs/"+d.secretJob)
		mustContain(t, "secret job page", r, "password: (hidden)", "Submitted manifests")
		mustNotContain(t, "secret job page", r, secretValue, base64.StdEncoding.EncodeToString([]byte(secretValue)))
	})

	t.Run("a missing namespace is one line with its fix", func(t *testing.T) {
		r := acme.get(t, "/ui/clusters/acme-prod-1")
		mustContain(t, "cluster page", r, `<td class="id">`+missingNSName+`</td>`, "does not exist</span>: create it, label it")
		row := string(r.body)[strings.Index(string(r.body), `<td class="id">`+missingNSName):]
		row = row[:strings.Index(row, "</tr>")]
		if strings.Contains(row, "missing") {
			t.Errorf("the missing namespace lists missing rights:\n%s", row)
		}
	})

	t.Run("drift check from the page shows the field, its manager and the values", func(t *testing.T) {
		app := "/ui/clusters/acme-prod-1/applications/" + d.ns + "/nextcloud"
		r := acme.post(t, "/ui/clusters/acme-prod-1/drift-check", url.Values{"csrf": {token}, "back": {app}})
		if r.status != http.StatusSeeOther || r.header.Get("Location") != app+"?done=drift-check" {
			t.Fatalf("drift check: %d %v %s", r.status, r.header, r.body)
		}
		if !strings.Contains(e.logs.String(), "action=drift-check") {
			t.Error("the drift check is not logged")
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			r = acme.get(t, app)
			if strings.Contains(string(r.body), driftManager) || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		mustContain(t, "application page", r, "drift-drifted", "ConfigMap/settings", ".data.k", driftManager,
			`<code class="good">&#34;v&#34;</code>`, `<code class="bad">&#34;bobs-value&#34;</code>`, // desired and live
			`class="id reference" href="/ui/jobs/`+d.secretJob+`"`) // the latest intent is the reference
	})

	t.Run("a failed application surfaces on the fleet", func(t *testing.T) {
		deadline := time.Now().Add(20 * time.Second)
		for {
			r := acme.get(t, "/ui/")
			if strings.Contains(string(r.body), "<strong>1</strong> application failed") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the fleet does not count forum as failed:\n%s", r.body)
			}
			time.Sleep(200 * time.Millisecond)
		}
		mustContain(t, "failed jobs", acme.get(t, "/ui/jobs?status=failed"), d.failed)
	})

	t.Run("callbacks off", func(t *testing.T) {
		mustContain(t, "callbacks page", acme.get(t, "/ui/callbacks"), "Callbacks are off")
	})
}
