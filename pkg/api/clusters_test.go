package api_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/vworkspace/pushd/internal/dbtest"
)

func record(namespaces ...string) map[string]any {
	return map[string]any{
		"display_name":         "Production 1",
		"labels":               map[string]string{"env": "production"},
		"connectivity":         "push",
		"allowed_namespaces":   namespaces,
		"allowed_applications": []string{"nextcloud"},
		"allowed_operations":   []map[string]string{{"engine": "manifest", "type": "deploy"}},
		"drift":                map[string]string{"schedule": "*/10 * * * *", "mode": "report"},
	}
}

func TestClusterRecordLifecycle(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		e := newEnv(t, db)
		r := e.write(t, http.MethodPut, "/api/v1/clusters/acme-prod-1", acmeSecret, mustJSON(t, record("nextcloud")))
		if r.status != http.StatusCreated {
			t.Fatalf("create: %d %s", r.status, r.body)
		}
		got := r.json(t)
		if got["organization"] != "acme" || got["id"] != "acme-prod-1" {
			t.Fatalf("organization must default to the caller's: %s", r.body)
		}
		if conn := got["connectivity"].(map[string]any); conn["state"] != "no_credentials" {
			t.Fatalf("a cluster without kubeconfig must be no_credentials: %s", r.body)
		}
		rec := record("nextcloud", "mattermost")
		rec["organization"] = "acme"
		if r := e.write(t, http.MethodPut, "/api/v1/clusters/acme-prod-1", acmeSecret, mustJSON(t, rec)); r.status != http.StatusOK {
			t.Fatalf("update: %d %s", r.status, r.body)
		}
		r = e.read(t, "/api/v1/clusters/acme-prod-1", acmeToken)
		if r.status != http.StatusOK || !strings.Contains(string(r.body), `"allowed_namespaces":["mattermost","nextcloud"]`) {
			t.Fatalf("get: %d %s", r.status, r.body)
		}
		r = e.read(t, "/api/v1/clusters", acmeToken)
		if items := r.json(t)["items"].([]any); len(items) != 1 {
			t.Fatalf("list: %s", r.body)
		}
		// Two more records, read one page at a time.
		for _, id := range []string{"acme-prod-0", "acme-prod-2"} {
			if r := e.write(t, http.MethodPut, "/api/v1/clusters/"+id, acmeSecret, mustJSON(t, record("nextcloud"))); r.status != http.StatusCreated {
				t.Fatalf("create %s: %d", id, r.status)
			}
		}
		var seen []string
		for path := "/api/v1/clusters?limit=2"; ; {
			page := e.read(t, path, acmeToken).json(t)
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
		if r := e.read(t, "/api/v1/clusters?cursor=!!", acmeToken); r.status != http.StatusBadRequest {
			t.Fatalf("bad cursor: %d", r.status)
		}
		for _, id := range []string{"acme-prod-0", "acme-prod-2"} {
			e.write(t, http.MethodDelete, "/api/v1/clusters/"+id, acmeSecret, nil)
		}
		if r := e.write(t, http.MethodDelete, "/api/v1/clusters/acme-prod-1", acmeSecret, nil); r.status != http.StatusNoContent {
			t.Fatalf("delete: %d %s", r.status, r.body)
		}
		if r := e.read(t, "/api/v1/clusters/acme-prod-1", acmeToken); r.status != http.StatusNotFound || r.code(t) != "not_found" {
			t.Fatalf("after delete: %d %s", r.status, r.body)
		}
	})
}

// TestClusterRecordRules: an operation's CEL rules and the health rules
// round-trip through PUT and GET, defaults filled in; a rule that does not
// compile is a 422 naming the rule's path.
func TestClusterRecordRules(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		e := newEnv(t, db)
		rec := record("nextcloud")
		backup := map[string]any{"engine": "velero", "type": "backup",
			"succeeded": "object.status.phase == 'Completed'", "failed": "object.status.phase in ['PartiallyFailed', 'Failed']",
			"outputs": map[string]string{"items": "object.status.progress.itemsBackedUp"}, "max_duration_seconds": 7200}
		health := []map[string]string{{"group": "postgresql.cnpg.io", "kind": "Cluster", "current": "object.status.readyInstances == object.spec.instances"}}
		rec["allowed_operations"] = []map[string]any{{"engine": "manifest", "type": "deploy"}, backup}
		rec["health"] = health
		if r := e.write(t, http.MethodPut, "/api/v1/clusters/acme-rules", acmeSecret, mustJSON(t, rec)); r.status != http.StatusCreated {
			t.Fatalf("create: %d %s", r.status, r.body)
		}
		got := e.read(t, "/api/v1/clusters/acme-rules", acmeToken).json(t)
		backup["ttl_seconds_after_finished"] = 86400
		wantOps := []map[string]any{{"engine": "manifest", "type": "deploy", "max_duration_seconds": 3600, "ttl_seconds_after_finished": 86400}, backup}
		wantHealth := []map[string]string{{"group": "postgresql.cnpg.io", "kind": "Cluster", "current": health[0]["current"]}}
		if string(mustJSON(t, got["allowed_operations"])) != string(mustJSON(t, wantOps)) || string(mustJSON(t, got["health"])) != string(mustJSON(t, wantHealth)) {
			t.Fatalf("get: operations %s health %s", mustJSON(t, got["allowed_operations"]), mustJSON(t, got["health"]))
		}

		backup["outputs"] = map[string]string{"items": "object.status.progress."}
		r := e.write(t, http.MethodPut, "/api/v1/clusters/acme-rules", acmeSecret, mustJSON(t, rec))
		body := r.json(t)["error"].(map[string]any)
		details, _ := body["details"].([]any)
		if r.status != http.StatusUnprocessableEntity || body["code"] != "invalid_rule" || len(details) != 1 ||
			details[0].(map[string]any)["field"] != "allowed_operations[1].outputs.items" ||
			!strings.HasPrefix(body["message"].(string), "allowed_operations[1].outputs.items: ERROR: <input>:1:24: Syntax error") {
			t.Fatalf("a rule that does not compile: %d %s", r.status, r.body)
		}
		rec["allowed_operations"] = []map[string]any{{"engine": "manifest", "type": "deploy"}}
		rec["health"] = []map[string]string{{"kind": "Secret", "current": "has(object.data)"}}
		if r := e.write(t, http.MethodPut, "/api/v1/clusters/acme-rules", acmeSecret, mustJSON(t, rec)); r.status != http.StatusUnprocessableEntity || r.code(t) != "invalid_rule" {
			t.Fatalf("a health rule for Secret: %d %s", r.status, r.body)
		}
	})
}

func TestClusterRecordValidation(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		e := newEnv(t, db)
		with := func(k string, v any) []byte {
			r := record("nextcloud")
			r[k] = v
			return mustJSON(t, r)
		}
		tests := []struct {
			name   string
			path   string
			body   []byte
			status int
			code   string
		}{
			{"id not a DNS label", "/api/v1/clusters/Prod_1", mustJSON(t, record()), 400, "invalid_field"},
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
				r := e.write(t, http.MethodPut, tt.path, acmeSecret, tt.body)
				if r.status != tt.status || r.code(t) != tt.code {
					t.Fatalf("got %d %s, want %d %s", r.status, r.body, tt.status, tt.code)
				}
			})
		}
		if r := e.read(t, "/api/v1/clusters", acmeToken); strings.Contains(string(r.body), `"id"`) {
			t.Fatalf("refused writes stored something: %s", r.body)
		}
	})
}

func TestWritesMustBeSignedFreshAndUnique(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		e := newEnv(t, db)
		body := mustJSON(t, record("nextcloud"))
		now := time.Now()
		path := "/api/v1/clusters/acme-prod-1"
		refused := []struct {
			name   string
			secret string
			ts     time.Time
		}{
			{"unsigned", "", now},
			{"unknown secret", "whsec_bm90LWNvbmZpZ3VyZWQ=", now},
			{"stale", acmeSecret, now.Add(-301 * time.Second)},
			{"future", acmeSecret, now.Add(301 * time.Second)},
		}
		for _, tt := range refused {
			t.Run(tt.name, func(t *testing.T) {
				r := e.signed(t, http.MethodPut, path, tt.secret, "msg-"+tt.name, tt.ts, body)
				if r.status != http.StatusUnauthorized {
					t.Fatalf("got %d %s, want 401", r.status, r.body)
				}
			})
		}
		if r := e.read(t, path, acmeToken); r.status != http.StatusNotFound {
			t.Fatalf("a refused write changed something: %d %s", r.status, r.body)
		}
		// Tampering: a valid signature over another body.
		req := e.signed(t, http.MethodPut, path, acmeSecret, "msg-tamper", now, body)
		if req.status != http.StatusCreated {
			t.Fatalf("first write: %d %s", req.status, req.body)
		}
		// Replay: the same id and body get the original answer, without acting again.
		e.write(t, http.MethodDelete, path, acmeSecret, nil)
		replay := e.signed(t, http.MethodPut, path, acmeSecret, "msg-tamper", now, body)
		if replay.status != http.StatusCreated || replay.header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("replay: %d %s", replay.status, replay.body)
		}
		if r := e.read(t, path, acmeToken); r.status != http.StatusNotFound {
			t.Fatalf("a replayed write was acted on again: %d %s", r.status, r.body)
		}
		// The same id with another body is a conflict.
		other := mustJSON(t, record("mattermost"))
		if r := e.signed(t, http.MethodPut, path, acmeSecret, "msg-tamper", now, other); r.status != http.StatusConflict || r.code(t) != "webhook_id_reused" {
			t.Fatalf("reused id: %d %s", r.status, r.body)
		}
		// Reads need a token.
		for _, tok := range []string{"", "wrong"} {
			if r := e.read(t, "/api/v1/clusters", tok); r.status != http.StatusUnauthorized {
				t.Fatalf("read with token %q: %d", tok, r.status)
			}
		}
	})
}

func TestOrganizationsAreIsolated(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		e := newEnv(t, db)
		path := "/api/v1/clusters/acme-prod-1"
		if r := e.write(t, http.MethodPut, path, acmeSecret, mustJSON(t, record("nextcloud"))); r.status != http.StatusCreated {
			t.Fatalf("create: %d %s", r.status, r.body)
		}
		// The id is in acme's space: globex cannot create it, held or not.
		if r := e.write(t, http.MethodPut, path, globexSecret, mustJSON(t, record("other"))); r.status != http.StatusUnprocessableEntity || r.code(t) != "cluster_id_outside_organization" {
			t.Errorf("globex writes acme's id: %d %s", r.status, r.body)
		}
		checks := []response{
			e.read(t, path, globexToken),
			e.write(t, http.MethodPut, path+"/kubeconfig", globexSecret, []byte("apiVersion: v1\nkind: Config\n")),
			e.write(t, http.MethodDelete, path, globexSecret, nil),
		}
		for i, r := range checks {
			if r.status != http.StatusNotFound || r.code(t) != "not_found" {
				t.Errorf("check %d: %d %s, want 404 as if it did not exist", i, r.status, r.body)
			}
		}
		if r := e.read(t, "/api/v1/clusters", globexToken); strings.Contains(string(r.body), "acme-prod-1") {
			t.Fatalf("globex lists acme's cluster: %s", r.body)
		}
		if r := e.read(t, path, acmeToken); !strings.Contains(string(r.body), `"allowed_namespaces":["nextcloud"]`) {
			t.Fatalf("acme's record was changed by globex: %s", r.body)
		}
	})
}

// kubeconfig renders a kubeconfig for e's cluster with token and lets
// mutate change it first.
func (e *env) kubeconfig(t *testing.T, token string, mutate func(*clientcmdapi.Config)) []byte {
	t.Helper()
	server, ca := e.cluster.Server()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["c"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	cfg.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["ctx"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	cfg.CurrentContext = "ctx"
	if mutate != nil {
		mutate(cfg)
	}
	b, err := clientcmd.Write(*cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestKubeconfigRefusals(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		e := newEnv(t, db)
		if r := e.write(t, http.MethodPut, "/api/v1/clusters/acme-prod-1", acmeSecret, mustJSON(t, record("nextcloud"))); r.status != http.StatusCreated {
			t.Fatal(r.status)
		}
		marker := filepath.Join(t.TempDir(), "exec-ran")
		tests := []struct {
			name   string
			body   []byte
			reason string // substring of the message
		}{
			{"exec", e.kubeconfig(t, "", func(c *clientcmdapi.Config) {
				c.AuthInfos["u"] = &clientcmdapi.AuthInfo{Exec: &clientcmdapi.ExecConfig{Command: "touch", Args: []string{marker}, APIVersion: "client.authentication.k8s.io/v1", InteractiveMode: "Never"}}
			}), "uses exec"},
			{"auth-provider", e.kubeconfig(t, "", func(c *clientcmdapi.Config) {
				c.AuthInfos["u"] = &clientcmdapi.AuthInfo{AuthProvider: &clientcmdapi.AuthProviderConfig{Name: "oidc"}}
			}), "auth-provider"},
			{"token file", e.kubeconfig(t, "", func(c *clientcmdapi.Config) { c.AuthInfos["u"].TokenFile = "/etc/passwd" }), "tokenFile"},
			{"client certificate file", e.kubeconfig(t, "", func(c *clientcmdapi.Config) {
				c.AuthInfos["u"].ClientCertificate, c.AuthInfos["u"].ClientKey = "/tmp/c.crt", "/tmp/c.key"
			}), "client-certificate"},
			{"CA file", e.kubeconfig(t, "tok", func(c *clientcmdapi.Config) {
				c.Clusters["c"].CertificateAuthority, c.Clusters["c"].CertificateAuthorityData = "/tmp/ca.crt", nil
			}), "certificate-authority"},
			{"insecure", e.kubeconfig(t, "tok", func(c *clientcmdapi.Config) { c.Clusters["c"].InsecureSkipTLSVerify = true }), "insecure-skip-tls-verify"},
			{"two contexts", e.kubeconfig(t, "tok", func(c *clientcmdapi.Config) { c.Contexts["other"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"} }), "2 usable contexts"},
			{"no context", e.kubeconfig(t, "tok", func(c *clientcmdapi.Config) { delete(c.Contexts, "ctx") }), "0 usable contexts"},
			{"plain http", e.kubeconfig(t, "tok", func(c *clientcmdapi.Config) { c.Clusters["c"].Server = "http://127.0.0.1:8080" }), "https://"},
			{"user information in the URL", e.kubeconfig(t, "tok", func(c *clientcmdapi.Config) { c.Clusters["c"].Server = "https://admin:canarypw@127.0.0.1:8443" }), "user information"},
			{"no credential", e.kubeconfig(t, "", nil), "no embedded token"},
			{"not a kubeconfig", []byte("{{{ not yaml"), "not a kubeconfig"},
			{"empty", nil, "empty"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := e.write(t, http.MethodPut, "/api/v1/clusters/acme-prod-1/kubeconfig", acmeSecret, tt.body)
				if r.status != http.StatusUnprocessableEntity || r.code(t) != "kubeconfig_rejected" {
					t.Fatalf("got %d %s, want 422 kubeconfig_rejected", r.status, r.body)
				}
				msg := r.json(t)["error"].(map[string]any)["message"].(string)
				if !strings.Contains(msg, tt.reason) {
					t.Fatalf("message %q does not say %q", msg, tt.reason)
				}
				if strings.Contains(string(r.body), "canarypw") {
					t.Fatalf("the answer repeats the URL's password: %s", r.body)
				}
			})
		}
		if _, err := os.Stat(marker); !os.IsNotExist(err) {
			t.Fatal("the exec command of a refused kubeconfig ran")
		}
		if v, _ := e.creds.Version("acme-prod-1"); v != "" {
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
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		e := newEnv(t, db)
		ns, job := jobFixture(t, e) // acme-prod-1, accepting the admin token
		rec := record(ns)
		rec["allowed_operations"] = []map[string]string{{"engine": "manifest", "type": "deploy"}}
		if r := e.write(t, http.MethodPut, "/api/v1/clusters/acme-prod-1", acmeSecret, mustJSON(t, rec)); r.status != http.StatusOK {
			t.Fatalf("record without acceptance: %d %s", r.status, r.body)
		}
		got := e.read(t, "/api/v1/clusters/acme-prod-1", acmeToken).json(t)
		if got["over_privileged"] != true || got["accept_excess_rights"] != false || got["uid"] == "" {
			t.Fatalf("cluster: %v", got)
		}
		oldUID := got["uid"]
		if r := e.write(t, http.MethodPost, "/api/v1/jobs", acmeSecret, job(nil)); r.status != http.StatusUnprocessableEntity || r.code(t) != "over_privileged" {
			t.Fatalf("job on an over-privileged cluster: %d %s", r.status, r.body)
		}
		rec["accept_excess_rights"] = true
		if r := e.write(t, http.MethodPut, "/api/v1/clusters/acme-prod-1", acmeSecret, mustJSON(t, rec)); r.status != http.StatusOK {
			t.Fatalf("accept: %d %s", r.status, r.body)
		}
		r := e.write(t, http.MethodPost, "/api/v1/jobs", acmeSecret, job(nil))
		if r.status != http.StatusAccepted {
			t.Fatalf("job once accepted: %d %s", r.status, r.body)
		}
		e.waitFinal(t, r.json(t)["id"].(string))

		if r := e.write(t, http.MethodDelete, "/api/v1/clusters/acme-prod-1", acmeSecret, nil); r.status != http.StatusNoContent {
			t.Fatalf("delete: %d %s", r.status, r.body)
		}
		// The id is in acme's space, so only acme can register it again
		// (another organization reusing an id is TestReusedIDStartsEmpty's,
		// in pkg/observe): the new record starts empty.
		if r := e.write(t, http.MethodPut, "/api/v1/clusters/acme-prod-1", acmeSecret, mustJSON(t, record(ns))); r.status != http.StatusCreated {
			t.Fatalf("acme registers the id again: %d %s", r.status, r.body)
		}
		if got := e.read(t, "/api/v1/clusters/acme-prod-1", acmeToken).json(t); got["uid"] == oldUID {
			t.Fatalf("the id kept its generation: %v", got["uid"])
		}
		if r := e.read(t, "/api/v1/clusters/acme-prod-1/applications", acmeToken); r.status != http.StatusOK || len(r.json(t)["items"].([]any)) != 0 {
			t.Fatalf("the new record shows the old record's application: %s", r.body)
		}
	})
}
