package app

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/vworkspace/pushd/internal/testbed"
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/config"
	"github.com/vworkspace/pushd/pkg/store"
)

// TestClustersCLI drives the admin commands the way a person at a terminal
// would: add a cluster with an admin kubeconfig (check fails: excess rights),
// bootstrap a least-privilege credential (check passes), list and show.
func TestClustersCLI(t *testing.T) {
	ctx := context.Background()
	c := bed.Clusters()[0]
	ns, dir, run := atTerminal(t, c, "cli-")

	code, out := run("clusters", "add", "edge-1", "--namespaces", ns.Name, "--applications", "nextcloud", "--kubeconfig", c.AdminKubeconfig)
	if code == 0 || !strings.Contains(out, "edge-1: 6 problems") || !strings.Contains(out, "EXCESS") {
		t.Fatalf("add with an admin kubeconfig must store it, probe ready and fail on excess rights (exit %d):\n%s", code, out)
	}
	code, out = run("clusters", "bootstrap", "--admin-kubeconfig", c.AdminKubeconfig, "--cluster", "edge-1", "--token-ttl", "1h")
	if code != 0 || !strings.Contains(out, "granted   "+ns.Name) || !strings.Contains(out, "namespace   "+ns.Name+": ok") {
		t.Fatalf("bootstrap (exit %d):\n%s", code, out)
	}
	if strings.Contains(out, "EXCESS") {
		t.Fatalf("the bootstrapped credential has excess rights:\n%s", out)
	}
	if code, out = run("clusters", "check", "edge-1"); code != 0 || !strings.Contains(out, "system:serviceaccount:") {
		t.Fatalf("check (exit %d):\n%s", code, out)
	}
	if code, out = run("clusters", "list"); code != 0 || !strings.Contains(out, "edge-1") || !strings.Contains(out, "ready") {
		t.Fatalf("list (exit %d):\n%s", code, out)
	}
	if code, out = run("clusters", "show", "edge-1"); code != 0 || !strings.Contains(out, `"allowed_namespaces"`) {
		t.Fatalf("show (exit %d):\n%s", code, out)
	}
	if code, out = run("clusters", "check", "nope"); code == 0 || !strings.Contains(out, "not found") {
		t.Fatalf("check of an unknown cluster (exit %d):\n%s", code, out)
	}

	// Jobs from the terminal go through the same rules as Odoo's.
	job := func(name, namespace string) string {
		p := filepath.Join(dir, name+".json")
		os.WriteFile(p, []byte(`{"id": "`+name+`", "cluster": "edge-1", "operation": {"engine": "manifest", "type": "deploy"},
			"application": "nextcloud", "namespace": "`+namespace+`", "action": "apply",
			"manifests": [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"k": "v"}}]}`), 0o600)
		return p
	}
	if code, out = run("jobs", "submit", job("cli-1", ns.Name)); code != 0 || !strings.Contains(out, "job cli-1 queued on edge-1") {
		t.Fatalf("jobs submit (exit %d):\n%s", code, out)
	}
	if code, out = run("jobs", "submit", job("cli-2", "kube-system")); code == 0 || !strings.Contains(out, "namespace_not_allowed") {
		t.Fatalf("jobs submit outside the scope (exit %d):\n%s", code, out)
	}
	var narrow bytes.Buffer
	code = Run(ctx, []string{"jobs", "submit", job("cli-3", ns.Name)}, env(map[string]string{
		"PUSHD_DATABASE_URL": "sqlite://" + filepath.Join(dir, "pushd.db"), "PUSHD_KUBECONFIG_DIR": filepath.Join(dir, "kubeconfigs"),
		"PUSHD_ALLOWED_KINDS": "Secret", "USER": "alice",
	}), &narrow, &narrow)
	if code == 0 || !strings.Contains(narrow.String(), "kind_not_allowed") {
		t.Fatalf("jobs submit with a narrower --allowed-kinds (exit %d):\n%s", code, narrow.String())
	}
	if code, out = run("jobs", "list", "--cluster", "edge-1"); code != 0 || !strings.Contains(out, "\ncli-1 ") || strings.Contains(out, "\ncli-2 ") || !strings.Contains(out, "queued") {
		t.Fatalf("jobs list (exit %d):\n%s", code, out)
	}
	if code, out = run("jobs", "get", "cli-1"); code != 0 || !strings.Contains(out, `"status": "queued"`) {
		t.Fatalf("jobs get (exit %d):\n%s", code, out)
	}
	if code, out = run("applications", "history", "--cluster", "edge-1", "--namespace", ns.Name, "nextcloud"); code != 0 ||
		!strings.Contains(out, "\ncli-1 ") || !strings.Contains(out, " cli ") || strings.Contains(out, "cli-2") {
		t.Fatalf("applications history (exit %d):\n%s", code, out)
	}

	// Every change made from the terminal is in the organization's audit
	// log, by alice through the CLI, refusals with their codes.
	st, err := store.Open(ctx, "sqlite", filepath.Join(dir, "pushd.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	entries, err := st.AuditEntries(ctx, config.DefaultOrganization, store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		if e.ActorKind != store.ActorCLI || e.ActorID != "alice" || e.Cluster != "edge-1" || e.ClusterUID == "" {
			t.Errorf("entry %+v: want alice through the CLI on edge-1 with its generation", e)
		}
		got = append(got, string(e.Action)+" "+e.Subject+" "+e.Outcome)
	}
	want := []string{"record.written  ok", "credential.replaced  ok", "credential.bootstrapped  ok",
		"job.submitted cli-1 ok", "job.submitted cli-2 namespace_not_allowed", "job.submitted cli-3 kind_not_allowed"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit log of the CLI session:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestClustersCLIKeepsWorkingCredential: a kubeconfig the cluster refuses
// does not replace one that works, from the terminal as through the API:
// the command fails saying so, the working credential is stored again and
// the cluster stays ready; the audit log has the refusal.
func TestClustersCLIKeepsWorkingCredential(t *testing.T) {
	ctx := context.Background()
	c := bed.Clusters()[0]
	ns, dir, run := atTerminal(t, c, "cli-keep-")
	// The admin credential works (ready; its excess rights are problems,
	// not a failed probe).
	if code, out := run("clusters", "add", "edge-1", "--namespaces", ns.Name, "--kubeconfig", c.AdminKubeconfig); code == 0 || !strings.Contains(out, "edge-1: 6 problems") {
		t.Fatalf("add with the admin kubeconfig (exit %d):\n%s", code, out)
	}
	bad := clientcmdapi.NewConfig()
	bad.Clusters["c"] = &clientcmdapi.Cluster{Server: c.Host, CertificateAuthorityData: c.CAData}
	bad.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: "refused-" + strings.Repeat("0", 32)}
	bad.Contexts["ctx"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	bad.CurrentContext = "ctx"
	badFile := filepath.Join(dir, "bad.kubeconfig")
	if err := clientcmd.WriteToFile(*bad, badFile); err != nil {
		t.Fatal(err)
	}

	code, out := run("clusters", "add", "edge-1", "--kubeconfig", badFile)
	if code == 0 || !strings.Contains(out, `cluster "edge-1": the new kubeconfig failed its probe (unauthorized); the working one is kept`) ||
		!strings.Contains(out, "the new kubeconfig's probe: the API server rejected the credential") {
		t.Fatalf("add with a refused kubeconfig must fail and say the working one is kept (exit %d):\n%s", code, out)
	}
	creds, err := clusters.NewCredentialStore(filepath.Join(dir, "kubeconfigs"))
	if err != nil {
		t.Fatal(err)
	}
	if cred, _, err := creds.Load("edge-1"); err != nil || cred.Token != c.AdminToken {
		t.Fatalf("the stored credential is not the working one (err %v)", err)
	}
	if code, out := run("clusters", "check", "edge-1"); !strings.Contains(out, "edge-1: 6 problems") {
		t.Fatalf("check after the refused kubeconfig: want ready with the admin's problems (exit %d):\n%s", code, out)
	}

	st, err := store.Open(ctx, "sqlite", filepath.Join(dir, "pushd.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	entries, err := st.AuditEntries(ctx, config.DefaultOrganization, store.AuditFilter{Action: store.AuditCredentialReplaced})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Outcome)
	}
	if want := "ok kubeconfig_rejected"; strings.Join(got, " ") != want {
		t.Errorf("credential.replaced outcomes %q, want %q", strings.Join(got, " "), want)
	}
}

// atTerminal is a person at a terminal, alice: a fresh managed namespace
// (named from prefix) on c, a folder for pushd's database and kubeconfigs,
// and run, which runs pushd's CLI there and returns its exit code and
// output.
func atTerminal(t *testing.T, c *testbed.Cluster, prefix string) (ns *corev1.Namespace, dir string, run func(args ...string) (int, string)) {
	t.Helper()
	ctx := context.Background()
	cs, err := kubernetes.NewForConfig(c.AdminConfig())
	if err != nil {
		t.Fatal(err)
	}
	ns, err = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		GenerateName: prefix, Labels: map[string]string{"managed-by": "vworkspace"}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	environ := env(map[string]string{
		"PUSHD_DATABASE_URL":   "sqlite://" + filepath.Join(dir, "pushd.db"),
		"PUSHD_KUBECONFIG_DIR": filepath.Join(dir, "kubeconfigs"),
		"USER":                 "alice",
	})
	return ns, dir, func(args ...string) (int, string) {
		var out bytes.Buffer
		code := Run(ctx, args, environ, &out, &out)
		return code, out.String()
	}
}
