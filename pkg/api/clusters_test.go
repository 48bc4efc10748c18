package api_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/vworkspace/pushd/internal/apitest"
	"github.com/vworkspace/pushd/internal/dbtest"
)

func TestClusterRecordLifecycle(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		e := newEnv(t, db)
		r := e.Write(t, http.MethodPut, "/api/v1/clusters/acme-prod-1", apitest.AcmeSecret, apitest.MustJSON(t, apitest.Record("nextcloud")))
		if r.Status != http.StatusCreated {
			t.Fatalf("create: %d %s", r.Status, r.Body)
		}
		got := r.JSON(t)
		if got["organization"] != "acme" || got["id"] != "acme-prod-1" {
			t.Fatalf("organization must default to the caller's: %s", r.Body)
		}
		if conn := got["connectivity"].(map[string]any); conn["state"] != "no_credentials" {
			t.Fatalf("a cluster without kubeconfig must be no_credentials: %s", r.Body)
		}
		rec := apitest.Record("nextcloud", "mattermost")
		rec["organization"] = "acme"
		if r := e.Write(t, http.MethodPut, "/api/v1/clusters/acme-prod-1", apitest.AcmeSecret, apitest.MustJSON(t, rec)); r.Status != http.StatusOK {
			t.Fatalf("update: %d %s", r.Status, r.Body)
		}
		r = e.Read(t, "/api/v1/clusters/acme-prod-1", apitest.AcmeToken)
		if r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"allowed_namespaces":["mattermost","nextcloud"]`) {
			t.Fatalf("get: %d %s", r.Status, r.Body)
		}
		r = e.Read(t, "/api/v1/clusters", apitest.AcmeToken)
		if items := r.JSON(t)["items"].([]any); len(items) != 1 {
			t.Fatalf("list: %s", r.Body)
		}
		// Two more records, read one page at a time.
		for _, id := range []string{"acme-prod-0", "acme-prod-2"} {
			if r := e.Write(t, http.MethodPut, "/api/v1/clusters/"+id, apitest.AcmeSecret, apitest.MustJSON(t, apitest.Record("nextcloud"))); r.Status != http.StatusCreated {
				t.Fatalf("create %s: %d", id, r.Status)
			}
		}
		var seen []string
		for path := "/api/v1/clusters?limit=2"; ; {
			page := e.Read(t, path, apitest.AcmeToken).JSON(t)
			for _, it := range page["items"].([]any) {
				seen = append(seen, it.(map[string]any)["id"].(string))
			}
			next, ok := page["next_cursor"].(string)
			if !ok {
				break
			}
			path = "/api/v1/clusters?limit=2&cursor=" + next
		}
		if strings.Join(seen, ",") != "acme-prod-0,acme-prod-1,acme-prod-2" {
			t.Fatalf("paged listing: %v", seen)
		}
		if r := e.Read(t, "/api/v1/clusters?cursor=!!", apitest.AcmeToken); r.Status != http.StatusBadRequest {
			t.Fatalf("bad cursor: %d", r.Status)
		}
		for _, id := range []string{"acme-prod-0", "acme-prod-2"} {
			e.Write(t, http.MethodDelete, "/api/v1/clusters/"+id, apitest.AcmeSecret, nil)
		}
		if r := e.Write(t, http.MethodDelete, "/api/v1/clusters/acme-prod-1", apitest.AcmeSecret, nil); r.Status != http.StatusNoContent {
			t.Fatalf("delete: %d %s", r.Status, r.Body)
		}
		if r := e.Read(t, "/api/v1/clusters/acme-prod-1", apitest.AcmeToken); r.Status != http.StatusNotFound || r.Code(t) != "not_found" {
			t.Fatalf("after delete: %d %s", r.Status, r.Body)
		}
	})
}

// TestClusterRecordRules: an operation's CEL rules and the health rules
// round-trip through PUT and GET, defaults filled in; a rule that does not
// compile is a 422 naming the rule's path.
func TestClusterRecordRules(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		e := newEnv(t, db)
		rec := apitest.Record("nextcloud")
		backup := map[string]any{"engine": "velero", "type": "backup",
			"succeeded": "object.status.phase == 'Completed'", "failed": "object.status.phase in ['PartiallyFailed', 'Failed']",
			"outputs": map[string]string{"items": "object.status.progress.itemsBackedUp"}, "max_duration_seconds": 7200}
		health := []map[string]string{{"group": "postgresql.cnpg.io", "kind": "Cluster", "current": "object.status.readyInstances == object.spec.instances"}}
		rec["allowed_operations"] = []map[string]any{{"engine": "manifest", "type": "deploy"}, backup}
		rec["health"] = health
		if r := e.Write(t, http.MethodPut, "/api/v1/clusters/acme-rules", apitest.AcmeSecret, apitest.MustJSON(t, rec)); r.Status != http.StatusCreated {
			t.Fatalf("create: %d %s", r.Status, r.Body)
		}
		got := e.Read(t, "/api/v1/clusters/acme-rules", apitest.AcmeToken).JSON(t)
		backup["ttl_seconds_after_finished"] = 86400
		wantOps := []map[string]any{{"engine": "manifest", "type": "deploy", "max_duration_seconds": 3600, "ttl_seconds_after_finished": 86400}, backup}
		wantHealth := []map[string]string{{"group": "postgresql.cnpg.io", "kind": "Cluster", "current": health[0]["current"]}}
		if string(apitest.MustJSON(t, got["allowed_operations"])) != string(apitest.MustJSON(t, wantOps)) || string(apitest.MustJSON(t, got["health"])) != string(apitest.MustJSON(t, wantHealth)) {
			t.Fatalf("get: operations %s health %s", apitest.MustJSON(t, got["allowed_operations"]), apitest.MustJSON(t, got["health"]))
		}

		backup["outputs"] = map[string]string{"items": "object.status.progress."}
		r := e.Write(t, http.MethodPut, "/api/v1/clusters/acme-rules", apitest.AcmeSecret, apitest.MustJSON(t, rec))
		body := r.JSON(t)["error"].(map[string]any)
		details, _ := body["details"].([]any)
		if r.Status != http.StatusUnprocessableEntity || body["code"] != "invalid_rule" || len(details) != 1 ||
			details[0].(map[string]any)["field"] != "allowed_operations[1].outputs.items" ||
			!strings.HasPrefix(body["message"].(string), "allowed_operations[1].outputs.items: ERROR: <input>:1:24: Syntax error") {
			t.Fatalf("a rule that does not compile: %d %s", r.Status, r.Body)
		}
		rec["allowed_operations"] = []map[string]any{{"engine": "manifest", "type": "deploy"}}
		rec["health"] = []map[string]string{{"kind": "Secret", "current": "has(object.data)"}}
		if r := e.Write(t, http.MethodPut, "/api/v1/clusters/acme-rules", apitest.AcmeSecret, apitest.MustJSON(t, rec)); r.Status != http.StatusUnprocessableEntity || r.Code(t) != "invalid_rule" {
			t.Fatalf("a health rule for Secret: %d %s", r.Status, r.Body)
		}
	})
}

func TestClusterRecordValidation(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		e := newEnv(t, db)
		with := func(k string, v any) []byte {
			r := apitest.Record("nextcloud")
			r[k] = v
			return apitest.MustJSON(t, r)
		}
		tests := []struct {
			name   string
			path   string
			body   []byte
			status int
			code   string
		}{
			{"id not a DNS label", "/api/v1/clusters/Prod_1", apitest.MustJSON(t, apitest.Record()), 400, "invalid_field"},
			{"bad cron", "/api/v1/clusters/acme-c1", with("drift", map[string]string{"schedule": "every tuesday"}), 422, "invalid_drift_schedule"},
			// robfig/cron panics on these; they must be refused, not crash the handler.
			{"cron TZ=", "/api/v1/clusters/acme-c1", with("drift", map[string]string{"schedule": "TZ="}), 422, "invalid_drift_schedule"},
			{"cron CRON_TZ=UTC", "/api/v1/clusters/acme-c1", with("drift", map[string]string{"schedule": "CRON_TZ=UTC"}), 422, "invalid_drift_schedule"},
			{"cron with a zone", "/api/v1/clusters/acme-c1", with("drift", map[string]string{"schedule": "CRON_TZ=Europe/Paris 0 3 * * *"}), 422, "invalid_drift_schedule"},
			{"cron every second", "/api/v1/clusters/acme-c1", with("drift", map[string]string{"schedule": "@every 1s"}), 422, "invalid_drift_schedule"},
			{"cron six fields", "/api/v1/clusters/acme-c1", with("drift", map[string]string{"schedule": "* * * * * *"}), 422, "invalid_drift_schedule"},
			{"bad drift mode", "/api/v1/clusters/acme-c1", with("drift", map[string]string{"mode": "fix"}), 400, "invalid_field"},
			{"pull connectivity", "/api/v1/clusters/acme-c1", with("connectivity", "pull"), 422, "connectivity_not_supported"},
			{"bad namespace", "/api/v1/clusters/acme-c1", with("allowed_namespaces", []string{"Not OK"}), 400, "invalid_field"},
			{"operation without type", "/api/v1/clusters/acme-c1", with("allowed_operations", []map[string]string{{"engine": "manifest"}}), 400, "invalid_field"},
			{"unknown field", "/api/v1/clusters/acme-c1", with("allowed_namespacez", []string{"x"}), 400, "malformed_json"},
			{"malformed JSON", "/api/v1/clusters/acme-c1", []byte(`{"display_name":`), 400, "malformed_json"},
			{"another organization", "/api/v1/clusters/acme-c1", with("organization", "globex"), 403, "organization_mismatch"},
			{"body too large", "/api/v1/clusters/acme-c1", with("public_key", strings.Repeat("k", 70<<10)), 413, "body_too_large"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := e.Write(t, http.MethodPut, tt.path, apitest.AcmeSecret, tt.body)
				if r.Status != tt.status || r.Code(t) != tt.code {
					t.Fatalf("got %d %s, want %d %s", r.Status, r.Body, tt.status, tt.code)
				}
			})
		}
		if r := e.Read(t, "/api/v1/clusters", apitest.AcmeToken); strings.Contains(string(r.Body), `"id"`) {
			t.Fatalf("refused writes stored something: %s", r.Body)
		}
	})
}

func TestWritesMustBeSignedFreshAndUnique(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		e := newEnv(t, db)
		body := apitest.MustJSON(t, apitest.Record("nextcloud"))
		now := time.Now()
		path := "/api/v1/clusters/acme-prod-1"
		refused := []struct {
			name   string
			secret string
			ts     time.Time
		}{
			{"unsigned", "", now},
			{"unknown secret", "whsec_bm90LWNvbmZpZ3VyZWQ=", now},
			{"stale", apitest.AcmeSecret, now.Add(-301 * time.Second)},
			{"future", apitest.AcmeSecret, now.Add(301 * time.Second)},
		}
		for _, tt := range refused {
			t.Run(tt.name, func(t *testing.T) {
				r := e.Signed(t, http.MethodPut, path, tt.secret, "msg-"+tt.name, tt.ts, body)
				if r.Status != http.StatusUnauthorized {
					t.Fatalf("got %d %s, want 401", r.Status, r.Body)
				}
			})
		}
		if r := e.Read(t, path, apitest.AcmeToken); r.Status != http.StatusNotFound {
			t.Fatalf("a refused write changed something: %d %s", r.Status, r.Body)
		}
		// Tampering: a valid signature over another body.
		req := e.Signed(t, http.MethodPut, path, apitest.AcmeSecret, "msg-tamper", now, body)
		if req.Status != http.StatusCreated {
			t.Fatalf("first write: %d %s", req.Status, req.Body)
		}
		// Replay: the same id and body get the original answer, without acting again.
		e.Write(t, http.MethodDelete, path, apitest.AcmeSecret, nil)
		replay := e.Signed(t, http.MethodPut, path, apitest.AcmeSecret, "msg-tamper", now, body)
		if replay.Status != http.StatusCreated || replay.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("replay: %d %s", replay.Status, replay.Body)
		}
		if r := e.Read(t, path, apitest.AcmeToken); r.Status != http.StatusNotFound {
			t.Fatalf("a replayed write was acted on again: %d %s", r.Status, r.Body)
		}
		// The same id with another body is a conflict.
		other := apitest.MustJSON(t, apitest.Record("mattermost"))
		if r := e.Signed(t, http.MethodPut, path, apitest.AcmeSecret, "msg-tamper", now, other); r.Status != http.StatusConflict || r.Code(t) != "webhook_id_reused" {
			t.Fatalf("reused id: %d %s", r.Status, r.Body)
		}
		// Reads need a token.
		for _, tok := range []string{"", "wrong"} {
			if r := e.Read(t, "/api/v1/clusters", tok); r.Status != http.StatusUnauthorized {
				t.Fatalf("read with token %q: %d", tok, r.Status)
			}
		}
	})
}

func TestOrganizationsAreIsolated(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		e := newEnv(t, db)
		path := "/api/v1/clusters/acme-prod-1"
		if r := e.Write(t, http.MethodPut, path, apitest.AcmeSecret, apitest.MustJSON(t, apitest.Record("nextcloud"))); r.Status != http.StatusCreated {
			t.Fatalf("create: %d %s", r.Status, r.Body)
		}
		// The id is in acme's space: globex cannot create it, held or not.
		if r := e.Write(t, http.MethodPut, path, apitest.GlobexSecret, apitest.MustJSON(t, apitest.Record("other"))); r.Status != http.StatusUnprocessableEntity || r.Code(t) != "cluster_id_outside_organization" {
			t.Errorf("globex writes acme's id: %d %s", r.Status, r.Body)
		}
		checks := []apitest.Response{
			e.Read(t, path, apitest.GlobexToken),
			e.Write(t, http.MethodPut, path+"/kubeconfig", apitest.GlobexSecret, []byte("apiVersion: v1\nkind: Config\n")),
			e.Write(t, http.MethodDelete, path, apitest.GlobexSecret, nil),
		}
		for i, r := range checks {
			if r.Status != http.StatusNotFound || r.Code(t) != "not_found" {
				t.Errorf("check %d: %d %s, want 404 as if it did not exist", i, r.Status, r.Body)
			}
		}
		if r := e.Read(t, "/api/v1/clusters", apitest.GlobexToken); strings.Contains(string(r.Body), "acme-prod-1") {
			t.Fatalf("globex lists acme's cluster: %s", r.Body)
		}
		if r := e.Read(t, path, apitest.AcmeToken); !strings.Contains(string(r.Body), `"allowed_namespaces":["nextcloud"]`) {
			t.Fatalf("acme's record was changed by globex: %s", r.Body)
		}
	})
}

func TestKubeconfigRefusals(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		e := newEnv(t, db)
		if r := e.Write(t, http.MethodPut, "/api/v1/clusters/acme-prod-1", apitest.AcmeSecret, apitest.MustJSON(t, apitest.Record("nextcloud"))); r.Status != http.StatusCreated {
			t.Fatal(r.Status)
		}
		marker := filepath.Join(t.TempDir(), "exec-ran")
		tests := []struct {
			name   string
			body   []byte
			reason string // substring of the message
		}{
			{"exec", e.Kubeconfig(t, "", func(c *clientcmdapi.Config) {
				c.AuthInfos["u"] = &clientcmdapi.AuthInfo{Exec: &clientcmdapi.ExecConfig{Command: "touch", Args: []string{marker}, APIVersion: "client.authentication.k8s.io/v1", InteractiveMode: "Never"}}
			}), "uses exec"},
			{"auth-provider", e.Kubeconfig(t, "", func(c *clientcmdapi.Config) {
				c.AuthInfos["u"] = &clientcmdapi.AuthInfo{AuthProvider: &clientcmdapi.AuthProviderConfig{Name: "oidc"}}
			}), "auth-provider"},
			{"token file", e.Kubeconfig(t, "", func(c *clientcmdapi.Config) { c.AuthInfos["u"].TokenFile = "/etc/passwd" }), "tokenFile"},
			{"client certificate file", e.Kubeconfig(t, "", func(c *clientcmdapi.Config) {
				c.AuthInfos["u"].ClientCertificate, c.AuthInfos["u"].ClientKey = "/tmp/c.crt", "/tmp/c.key"
			}), "client-certificate"},
			{"CA file", e.Kubeconfig(t, "tok", func(c *clientcmdapi.Config) {
				c.Clusters["c"].CertificateAuthority, c.Clusters["c"].CertificateAuthorityData = "/tmp/ca.crt", nil
			}), "certificate-authority"},
			{"insecure", e.Kubeconfig(t, "tok", func(c *clientcmdapi.Config) { c.Clusters["c"].InsecureSkipTLSVerify = true }), "insecure-skip-tls-verify"},
			{"two contexts", e.Kubeconfig(t, "tok", func(c *clientcmdapi.Config) { c.Contexts["other"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"} }), "2 usable contexts"},
			{"no context", e.Kubeconfig(t, "tok", func(c *clientcmdapi.Config) { delete(c.Contexts, "ctx") }), "0 usable contexts"},
			{"plain http", e.Kubeconfig(t, "tok", func(c *clientcmdapi.Config) { c.Clusters["c"].Server = "http://127.0.0.1:8080" }), "https://"},
			{"user information in the URL", e.Kubeconfig(t, "tok", func(c *clientcmdapi.Config) { c.Clusters["c"].Server = "https://admin:canarypw@127.0.0.1:8443" }), "user information"},
			{"no credential", e.Kubeconfig(t, "", nil), "no embedded token"},
			{"not a kubeconfig", []byte("{{{ not yaml"), "not a kubeconfig"},
			{"empty", nil, "empty"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := e.Write(t, http.MethodPut, "/api/v1/clusters/acme-prod-1/kubeconfig", apitest.AcmeSecret, tt.body)
				if r.Status != http.StatusUnprocessableEntity || r.Code(t) != "kubeconfig_rejected" {
					t.Fatalf("got %d %s, want 422 kubeconfig_rejected", r.Status, r.Body)
				}
				msg := r.JSON(t)["error"].(map[string]any)["message"].(string)
				if !strings.Contains(msg, tt.reason) {
					t.Fatalf("message %q does not say %q", msg, tt.reason)
				}
				if strings.Contains(string(r.Body), "canarypw") {
					t.Fatalf("the answer repeats the URL's password: %s", r.Body)
				}
			})
		}
		if _, err := os.Stat(marker); !os.IsNotExist(err) {
			t.Fatal("the exec command of a refused kubeconfig ran")
		}
		if v, _ := e.Creds.Version("acme-prod-1"); v != "" {
			t.Fatal("a refused kubeconfig was stored")
		}
	})
}

// TestOverPrivilegedAndReusedID: an admin kubeconfig makes a cluster
// over_privileged and its jobs are refused (422 over_privileged) until the
// record accepts it. Deleted and registered again by another
// organization, the id has a new uid and shows none of the old record's
// jobs or applications.
func TestOverPrivilegedAndReusedID(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		e := newEnv(t, db)
		ns, job := apitest.JobFixture(t, e) // acme-prod-1, accepting the admin token
		rec := apitest.Record(ns)
		rec["allowed_operations"] = []map[string]string{{"engine": "manifest", "type": "deploy"}}
		if r := e.Write(t, http.MethodPut, "/api/v1/clusters/acme-prod-1", apitest.AcmeSecret, apitest.MustJSON(t, rec)); r.Status != http.StatusOK {
			t.Fatalf("record without acceptance: %d %s", r.Status, r.Body)
		}
		got := e.Read(t, "/api/v1/clusters/acme-prod-1", apitest.AcmeToken).JSON(t)
		if got["over_privileged"] != true || got["accept_excess_rights"] != false || got["uid"] == "" {
			t.Fatalf("cluster: %v", got)
		}
		oldUID := got["uid"]
		if r := e.Write(t, http.MethodPost, "/api/v1/jobs", apitest.AcmeSecret, job(nil)); r.Status != http.StatusUnprocessableEntity || r.Code(t) != "over_privileged" {
			t.Fatalf("job on an over-privileged cluster: %d %s", r.Status, r.Body)
		}
		rec["accept_excess_rights"] = true
		if r := e.Write(t, http.MethodPut, "/api/v1/clusters/acme-prod-1", apitest.AcmeSecret, apitest.MustJSON(t, rec)); r.Status != http.StatusOK {
			t.Fatalf("accept: %d %s", r.Status, r.Body)
		}
		r := e.Write(t, http.MethodPost, "/api/v1/jobs", apitest.AcmeSecret, job(nil))
		if r.Status != http.StatusAccepted {
			t.Fatalf("job once accepted: %d %s", r.Status, r.Body)
		}
		e.WaitFinal(t, r.JSON(t)["id"].(string))

		if r := e.Write(t, http.MethodDelete, "/api/v1/clusters/acme-prod-1", apitest.AcmeSecret, nil); r.Status != http.StatusNoContent {
			t.Fatalf("delete: %d %s", r.Status, r.Body)
		}
		// The id is in acme's space, so only acme can register it again
		// (another organization reusing an id is TestReusedIDStartsEmpty's,
		// in pkg/observe): the new record starts empty.
		if r := e.Write(t, http.MethodPut, "/api/v1/clusters/acme-prod-1", apitest.AcmeSecret, apitest.MustJSON(t, apitest.Record(ns))); r.Status != http.StatusCreated {
			t.Fatalf("acme registers the id again: %d %s", r.Status, r.Body)
		}
		if got := e.Read(t, "/api/v1/clusters/acme-prod-1", apitest.AcmeToken).JSON(t); got["uid"] == oldUID {
			t.Fatalf("the id kept its generation: %v", got["uid"])
		}
		if r := e.Read(t, "/api/v1/clusters/acme-prod-1/applications", apitest.AcmeToken); r.Status != http.StatusOK || len(r.JSON(t)["items"].([]any)) != 0 {
			t.Fatalf("the new record shows the old record's application: %s", r.Body)
		}
	})
}
