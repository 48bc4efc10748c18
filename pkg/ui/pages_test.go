package ui_test

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
)

// TestPages: every page shows what its collaborator holds — the record,
// what was observed, jobs, applications, events, callbacks, the audit log
// — hostile names as text, Secret values never, and nothing of another
// organization, which is a 404 here as at the API.
func TestPages(t *testing.T) {
	d, s, acme := acmeOnDemo(t)
	var pages []page // every page served, checked for credentials at the end

	for _, tt := range []struct {
		path string
		want []string
		not  []string
	}{
		{"/ui/", []string{`href="/ui/clusters/acme-prod-1"`, "Production 1", "env=production", "state-ready",
			`href="/ui/clusters/acme-canary-1"`, "state-unauthorized", "tier=canary",
			"&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; Staging", // escaped, not run
			"2 succeeded", "1 running", "1 queued", "1 failed", "1 allowed", "<th>Applications</th>", "organization <strong>acme</strong>",
			"<strong>1</strong> application failed", "<strong>1</strong> application drifted", "<strong>1</strong> parked callback<"}, nil},
		{"/ui/clusters/acme-prod-1", []string{
			d.ns, "nextcloud", "manifest/deploy", "*/10 * * * *", "report", "v1.37.2", // the record, the server
			`class="namespaces"`, `<td class="id">` + d.ns + `</td>`, // observed namespaces
			`<div class="mono bad">`,                            // the credential has excess rights
			`href="/ui/jobs/` + d.job + `"`, "status-succeeded", // its jobs
			"job.status_changed", "is succeeded", "cluster.connectivity_changed", // its events
			`class="applications"`, `/applications/` + d.ns + `/nextcloud">nextcloud</a>`, `<a class="id" href="/ui/jobs/` + d.secretJob + `"`}, // its applications
			[]string{"Globex Main's"}}, // an event of the id's former owner
		{"/ui/clusters/acme-canary-1", []string{"state-unauthorized", "&lt;script&gt;", "refused the credential"}, nil},
		{"/ui/clusters/acme-prod-1/applications/" + d.ns + "/nextcloud", []string{"ConfigMap", "settings", `href="/ui/jobs/` + d.secretJob + `"`}, nil},
		{"/ui/jobs/" + d.job, []string{d.job, `class="objects"`, "<td>ConfigMap<div", d.ns + "/settings", "kstatus-Current", "req-" + d.ns}, nil},
		{"/ui/jobs/" + d.secretJob, []string{"password: (hidden)", "Submitted manifests", "/ui/clusters/acme-prod-1/applications/" + d.ns + "/nextcloud"}, nil},
		{"/ui/jobs?status=queued", []string{d.queued}, []string{d.running}},
		{"/ui/requests/" + d.wiki, []string{d.running, "status-running", "Cancel every unfinished job"}, nil},
		{"/ui/callbacks", []string{"evt-parked", `action="/ui/callbacks/evt-parked/resend"`, "Odoo answered 400 Bad Request"}, nil},
		{"/ui/audit", []string{"record.written", "webhook abcd1234", "ui.login", "acme-edge-down"}, nil},
	} {
		p := acme.get(tt.path)
		pages = append(pages, p)
		if p.status != http.StatusOK || p.header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: %d %v\n%s", tt.path, p.status, p.header, p.body)
			continue
		}
		mustContain(t, tt.path, p, tt.want...)
		mustNotContain(t, tt.path, p, append(tt.not, "globex-1", "Globex Main", "globex-job", "<script>")...)
	}

	for _, path := range []string{"/ui/clusters/globex-1", "/ui/clusters/nope", "/ui/jobs/globex-job", "/ui/jobs/nope", "/ui/requests/nope",
		"/ui/clusters/acme-prod-1/applications/" + d.ns + "/nope", "/ui/nowhere"} {
		p := acme.get(path)
		pages = append(pages, p)
		if p.status != http.StatusNotFound || !strings.HasPrefix(p.header.Get("Content-Type"), "text/html") {
			t.Errorf("%s: %d %s, want a 404 page", path, p.status, p.header.Get("Content-Type"))
		}
		mustNotContain(t, path, p, "Globex Main")
	}

	globex := s.loggedIn(t, globexToken)
	p := globex.get("/ui/")
	pages = append(pages, p)
	mustContain(t, "globex fleet", p, "globex-1", "Globex Main")
	mustNotContain(t, "globex fleet", p, "acme-prod-1", "acme-canary-1")
	for _, path := range []string{"/ui/clusters/acme-prod-1", "/ui/jobs/" + d.job, "/ui/requests/" + d.wiki} {
		if p := globex.get(path); p.status != http.StatusNotFound {
			t.Errorf("globex reads acme's %s: %d", path, p.status)
		}
	}

	for i, p := range pages {
		mustNotContain(t, "page "+string(rune('a'+i)), p, acmeToken, globexToken, secretValue, base64.StdEncoding.EncodeToString([]byte(secretValue)))
	}
	if strings.Contains(s.logs.String(), acmeToken) || strings.Contains(s.logs.String(), globexToken) {
		t.Error("a token reached the log")
	}
}
