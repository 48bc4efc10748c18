package api_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vworkspace/pushd/internal/apitest"
	"github.com/vworkspace/pushd/internal/contracttest"
	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/internal/fleettest"
	"github.com/vworkspace/pushd/pkg/store"
)

// fingerprint is how the audit log names a credential: the first 8 hex
// digits of its SHA-256.
func fingerprint(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:4])
}

// auditLine is what the test compares of an audit entry.
type auditLine struct {
	actorKind, actor, action, cluster, subject, outcome string
	status                                              int
}

func (l auditLine) String() string {
	return fmt.Sprintf("%s:%s %s %s/%s → %s (%d)", l.actorKind, l.actor, l.action, l.cluster, l.subject, l.outcome, l.status)
}

func auditLines(t *testing.T, items []any) []auditLine {
	t.Helper()
	var out []auditLine
	for _, it := range items {
		m := it.(map[string]any)
		s := func(k string) string { v, _ := m[k].(string); return v }
		status, _ := m["status"].(float64)
		out = append(out, auditLine{s("actor_kind"), s("actor"), s("action"), s("cluster"), s("subject"), s("outcome"), int(status)})
	}
	return out
}

// readAudit pages through GET /api/v1/audit with query q, limit 3 a page.
func readAudit(t *testing.T, e *apitest.Env, token, q string) []any {
	t.Helper()
	var all []any
	path := "/api/v1/audit?limit=3&" + q
	for {
		r := e.Read(t, path, token)
		if r.Status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, r.Status, r.Body)
		}
		page := r.JSON(t)
		all = append(all, page["items"].([]any)...)
		next, ok := page["next_cursor"].(string)
		if !ok {
			return all
		}
		path = "/api/v1/audit?limit=3&cursor=" + url.QueryEscape(next) + "&" + q
	}
}

// TestAuditLogOfAScriptedSession: a scripted session of acme — signed
// writes that create a record, upload its kubeconfig, submit a job (one
// refused, one accepted), cancel it, ask a drift check and re-send a parked
// callback, then a UI session that logs in, asks a drift check and logs
// out — is in acme's audit log in order, each with its actor (the webhook
// secret's or the UI session's fingerprint), subject and outcome, the
// refusal with its code; through the paged API, its filters, the JSON lines
// export and the UI page. globex sees only its own refused attempt.
func TestAuditLogOfAScriptedSession(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		odoo := newRefusingOdoo(t)
		var st *store.Store
		e := newEnv(t, db, odoo.deliverer(t, &st))
		const id = "acme-audit-1"
		ns := "audit-" + fleettest.RandomID()
		apitest.ManagedNamespace(t, e.Cluster, ns, nil)
		start := time.Now().Add(-time.Second)
		hook, ok := fingerprint(apitest.AcmeSecret), store.AuditOK

		rec := apitest.Record(ns)
		rec["accept_excess_rights"] = true // the cluster's admin token
		r := e.Write(t, http.MethodPut, "/api/v1/clusters/"+id, apitest.AcmeSecret, apitest.MustJSON(t, rec))
		if r.Status != http.StatusCreated {
			t.Fatalf("create: %d %s", r.Status, r.Body)
		}
		uid := r.JSON(t)["uid"].(string)
		if r := e.Write(t, http.MethodPut, "/api/v1/clusters/"+id+"/kubeconfig", apitest.AcmeSecret, e.Kubeconfig(t, e.Cluster.AdminToken(), nil)); r.Status != http.StatusOK {
			t.Fatalf("kubeconfig: %d %s", r.Status, r.Body)
		}
		job := func(jobID, kind string) []byte {
			return apitest.MustJSON(t, map[string]any{
				"id": jobID, "cluster": id, "request_id": "req-" + ns, "operation": map[string]string{"engine": "manifest", "type": "deploy"},
				"application": "nextcloud", "namespace": ns, "action": "apply", "timeout_seconds": 30,
				"manifests": []any{map[string]any{"apiVersion": "v1", "kind": kind, "metadata": map[string]any{"name": "x"}}},
			})
		}
		if r := e.Write(t, http.MethodPost, "/api/v1/jobs", apitest.AcmeSecret, job("job-refused-"+ns, "Namespace")); r.Status != http.StatusUnprocessableEntity {
			t.Fatalf("a cluster-scoped object was accepted: %d %s", r.Status, r.Body)
		}
		jobID := "job-" + ns
		if r := e.Write(t, http.MethodPost, "/api/v1/jobs", apitest.AcmeSecret, job(jobID, "ConfigMap")); r.Status != http.StatusAccepted {
			t.Fatalf("submit: %d %s", r.Status, r.Body)
		}
		// The job may be queued, running or done by now: the log must hold
		// whatever the answer was.
		cancel := e.Write(t, http.MethodPost, "/api/v1/jobs/"+jobID+"/cancel", apitest.AcmeSecret, nil)
		cancelOutcome := ok
		if cancel.Status >= 300 {
			cancelOutcome = cancel.Code(t)
		}
		drift, driftID := "/api/v1/clusters/"+id+"/drift-checks", "msg-audit-drift-"+ns
		if r := e.Signed(t, http.MethodPost, drift, apitest.AcmeSecret, driftID, time.Now(), nil); r.Status != http.StatusAccepted {
			t.Fatalf("drift check: %d %s", r.Status, r.Body)
		}
		// Odoo's retry is answered from memory: no second entry. The same
		// webhook-id with another body is refused, and that is audited.
		if r := e.Signed(t, http.MethodPost, drift, apitest.AcmeSecret, driftID, time.Now(), nil); r.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("retry of the drift check: %d %v", r.Status, r.Header)
		}
		if r := e.Signed(t, http.MethodPost, drift, apitest.AcmeSecret, driftID, time.Now(), []byte("{}")); r.Status != http.StatusConflict {
			t.Fatalf("reused webhook-id: %d %s", r.Status, r.Body)
		}
		ev := &store.Event{ID: "evt_audit_" + db.Driver, Type: "job.status_changed", Organization: "acme", Cluster: id, Data: `{"id":"x"}`}
		if err := st.AddEvent(t.Context(), ev); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the refused event is parked", func() bool {
			items, _ := e.Read(t, "/api/v1/callbacks/parked?limit=500", apitest.AcmeToken).JSON(t)["items"].([]any)
			for _, it := range items {
				if it.(map[string]any)["id"] == ev.ID {
					return true
				}
			}
			return false
		})
		if r := e.Write(t, http.MethodPost, "/api/v1/callbacks/"+ev.ID+"/resend", apitest.AcmeSecret, nil); r.Status != http.StatusAccepted {
			t.Fatalf("resend: %d %s", r.Status, r.Body)
		}
		// globex tries to run a job on acme's cluster: refused as if there
		// were no such cluster, and in globex's log only.
		if r := e.Write(t, http.MethodPost, "/api/v1/jobs", apitest.GlobexSecret, job("job-globex-"+ns, "ConfigMap")); r.Status != http.StatusNotFound {
			t.Fatalf("globex submitted to acme's cluster: %d %s", r.Status, r.Body)
		}

		ui := newUIClient(t, e)
		if r := ui.login(t, apitest.AcmeToken); r.Status != http.StatusSeeOther {
			t.Fatalf("login: %d", r.Status)
		}
		u, _ := url.Parse(e.URL + "/ui/")
		var session string
		for _, c := range ui.c.Jar.Cookies(u) {
			if c.Name == "pushd_ui_session" {
				session = fingerprint(c.Value)
			}
		}
		if session == "" {
			t.Fatal("no session cookie")
		}
		csrf := ui.csrf(t)
		if r := ui.post(t, "/ui/clusters/"+id+"/drift-check", url.Values{"csrf": {csrf}}); r.Status != http.StatusSeeOther {
			t.Fatalf("ui drift check: %d %s", r.Status, r.Body)
		}
		if r := ui.post(t, "/ui/clusters/"+id+"/drift-check", url.Values{"csrf": {"forged"}}); r.Status != http.StatusForbidden {
			t.Fatalf("forged ui drift check: %d", r.Status)
		}
		auditPage := ui.get(t, "/ui/audit")
		if r := ui.post(t, "/ui/logout", url.Values{"csrf": {csrf}}); r.Status != http.StatusSeeOther {
			t.Fatalf("logout: %d", r.Status)
		}

		want := []auditLine{
			{"webhook", hook, "record.written", id, "", ok, 201},
			{"webhook", hook, "credential.replaced", id, "", ok, 200},
			{"webhook", hook, "job.submitted", id, "job-refused-" + ns, "cluster_scoped_object", 422},
			{"webhook", hook, "job.submitted", id, jobID, ok, 202},
			{"webhook", hook, "job.cancelled", id, jobID, cancelOutcome, cancel.Status},
			{"webhook", hook, "drift_check.requested", id, "", ok, 202},
			{"webhook", hook, "drift_check.requested", id, "", "webhook_id_reused", 409},
			{"webhook", hook, "callback.resent", id, ev.ID, ok, 202},
			{"ui", session, "ui.login", "", "token:" + fingerprint(apitest.AcmeToken), ok, 303},
			{"ui", session, "drift_check.requested", id, "", ok, 303},
			{"ui", session, "drift_check.requested", id, "", "csrf", 403},
			{"ui", session, "ui.logout", "", "", ok, 303},
		}
		items := readAudit(t, e, apitest.AcmeToken, "")
		if got := auditLines(t, items); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("acme's audit log:\n%s\nwant:\n%s", strings.Join(strs(got), "\n"), strings.Join(strs(want), "\n"))
		}
		for _, it := range items {
			m := it.(map[string]any)
			if m["organization"] != "acme" {
				t.Errorf("entry of another organization: %v", m)
			}
			if m["cluster"] == id && m["action"] != "record.written" && m["cluster_uid"] != uid {
				t.Errorf("entry without the record's generation %s: %v", uid, m)
			}
		}
		if strings.Contains(fmt.Sprint(items), apitest.AcmeSecret) || strings.Contains(fmt.Sprint(items), apitest.AcmeToken) {
			t.Fatal("a credential is in the audit log")
		}

		t.Run("filters", func(t *testing.T) {
			if got := readAudit(t, e, apitest.AcmeToken, "action=job.submitted"); len(got) != 2 {
				t.Errorf("action filter: %d entries", len(got))
			}
			if got := readAudit(t, e, apitest.AcmeToken, "cluster="+id); len(got) != len(want)-2 {
				t.Errorf("cluster filter: %d entries, want every one but login and logout", len(got))
			}
			if got := readAudit(t, e, apitest.AcmeToken, "until="+url.QueryEscape(start.Format(time.RFC3339Nano))); len(got) != 0 {
				t.Errorf("until before the session: %d entries", len(got))
			}
			if got := readAudit(t, e, apitest.AcmeToken, "since="+url.QueryEscape(start.Format(time.RFC3339Nano))); len(got) != len(want) {
				t.Errorf("since the session's start: %d entries", len(got))
			}
			if r := e.Read(t, "/api/v1/audit?since=yesterday", apitest.AcmeToken); r.Status != http.StatusBadRequest || r.Code(t) != "invalid_field" {
				t.Errorf("bad since: %d %s", r.Status, r.Body)
			}
			if r := e.Read(t, "/api/v1/audit", ""); r.Status != http.StatusUnauthorized {
				t.Errorf("without a token: %d", r.Status)
			}
			// A write no secret signed belongs to no organization: pushd's log only.
			if r := e.Write(t, http.MethodPut, "/api/v1/clusters/"+id, "whsec_bm90LWNvbmZpZ3VyZWQ=", apitest.MustJSON(t, rec)); r.Status != http.StatusUnauthorized {
				t.Errorf("unsigned write: %d", r.Status)
			}
			if !strings.Contains(e.Logs.String(), "authentication failed") {
				t.Error("failed authentication is not logged")
			}
		})

		t.Run("JSON lines export", func(t *testing.T) {
			r := e.Read(t, "/api/v1/audit/export", apitest.AcmeToken)
			if r.Status != http.StatusOK || r.Header.Get("Content-Type") != "application/x-ndjson" {
				t.Fatalf("export: %d %s", r.Status, r.Header.Get("Content-Type"))
			}
			var lines []any
			sc := bufio.NewScanner(bytes.NewReader(r.Body))
			for sc.Scan() {
				contracttest.CheckSchema(t, "AuditEntry", sc.Bytes())
				var m map[string]any
				if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
					t.Fatalf("line %q: %v", sc.Text(), err)
				}
				lines = append(lines, m)
			}
			if fmt.Sprint(lines) != fmt.Sprint(items) {
				t.Errorf("the export differs from the listing:\n%s", r.Body)
			}
			if r := e.Read(t, "/api/v1/audit/export?action=ui.login", apitest.AcmeToken); bytes.Count(r.Body, []byte("\n")) != 1 {
				t.Errorf("filtered export: %s", r.Body)
			}
		})

		t.Run("UI page", func(t *testing.T) {
			// The page was read before the logout: every entry but the last, in order.
			rows := regexp.MustCompile(`<td class="mono">(\w+) ([0-9a-f]*)</td><td class="mono">([\w.]+)</td>`).FindAllStringSubmatch(string(auditPage.Body), -1)
			var page, wantPage []string
			for _, m := range rows {
				page = append(page, m[1]+":"+m[2]+" "+m[3])
			}
			for _, l := range want[:len(want)-1] {
				wantPage = append(wantPage, l.actorKind+":"+l.actor+" "+l.action)
			}
			if strings.Join(page, "\n") != strings.Join(wantPage, "\n") {
				t.Errorf("audit page rows:\n%s\nwant:\n%s", strings.Join(page, "\n"), strings.Join(wantPage, "\n"))
			}
			mustContain(t, "audit page", auditPage, "record.written", "credential.replaced", "cluster_scoped_object", jobID, ev.ID, hook, session, `href="/ui/audit"`)
			mustNotContain(t, "audit page", auditPage, "globex")
		})

		t.Run("another organization", func(t *testing.T) {
			got := auditLines(t, readAudit(t, e, apitest.GlobexToken, ""))
			if len(got) != 1 || got[0].action != "job.submitted" || got[0].outcome != "not_found" || got[0].status != 404 || got[0].actor != fingerprint(apitest.GlobexSecret) {
				t.Errorf("globex's audit log: %v", got)
			}
			if r := e.Read(t, "/api/v1/audit/export", apitest.GlobexToken); strings.Contains(string(r.Body), `"acme"`) {
				t.Errorf("globex's export holds acme's entries: %s", r.Body)
			}
			g := newUIClient(t, e)
			g.login(t, apitest.GlobexToken)
			mustNotContain(t, "globex's audit page", g.get(t, "/ui/audit"), hook, jobID, ev.ID)
		})
	})
}

func strs[T fmt.Stringer](xs []T) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = x.String()
	}
	return out
}

// A refused write naming a 300-character cluster id is in the audit log on
// both databases, its id cut to the column with the marker (PostgreSQL
// refused the whole entry: value too long).
func TestAuditKeepsRefusalsOfOverlongIDs(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		e := newEnv(t, db)
		id := strings.Repeat("a", 300)
		r := e.Write(t, http.MethodPut, "/api/v1/clusters/"+id, apitest.AcmeSecret, apitest.MustJSON(t, apitest.Record("nextcloud")))
		if r.Status < 400 || r.Status >= 500 {
			t.Fatalf("a 300-character cluster id: %d %s, want a refusal", r.Status, r.Body)
		}
		code := r.Code(t)
		lines := auditLines(t, readAudit(t, e, apitest.AcmeToken, ""))
		if len(lines) != 1 || lines[0].outcome != code || lines[0].status != r.Status ||
			lines[0].cluster != strings.Repeat("a", 252)+store.TruncatedMarker {
			t.Fatalf("audit log %v, want the refusal (%d %s) with the id cut to 253 characters", lines, r.Status, code)
		}
	})
}
