package app

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
)

// One test per promise of the CLI (issue 12, deliverable 8).

// cli runs the CLI on a database and kubeconfig folder of its own.
type cli struct {
	dir     string
	environ func(string) string
}

func newCLI(t *testing.T) *cli {
	dir := t.TempDir()
	return &cli{dir: dir, environ: env(map[string]string{
		"PUSHD_DATABASE_URL":   "sqlite://" + filepath.Join(dir, "pushd.db"),
		"PUSHD_KUBECONFIG_DIR": filepath.Join(dir, "kubeconfigs"),
	})}
}

func (c *cli) run(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = Run(context.Background(), args, c.environ, &out, &errb)
	return code, out.String(), errb.String()
}

// file writes name into the CLI's folder and returns its path.
func (c *cli) file(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(c.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// `pushd help`, `pushd CMD --help` and -h everywhere, each with only the
// flags that command uses.
func TestCLIHelpEverywhere(t *testing.T) {
	c := newCLI(t)
	tests := []struct {
		args          []string
		want, notWant []string
	}{
		{args: []string{"help"}, want: []string{"pushd clusters add", "pushd jobs submit"}, notWant: []string{"-listen"}},
		{args: []string{"--help"}, want: []string{"pushd clusters add", "pushd serve --help"}, notWant: []string{"-listen"}},
		{args: []string{"serve", "-h"}, want: []string{"-listen", "PUSHD_LISTEN", "-database-url"}, notWant: []string{"-namespaces"}},
		{args: []string{"clusters", "--help"}, want: []string{"pushd clusters bootstrap", "pushd clusters check"}},
		{args: []string{"help", "clusters"}, want: []string{"pushd clusters bootstrap"}},
		{args: []string{"help", "clusters", "add"}, want: []string{"-namespaces", "-drift-schedule"}, notWant: []string{"-listen", "-allowed-kinds"}},
		{args: []string{"clusters", "add", "-h"}, want: []string{"-namespaces", "-database-url"}, notWant: []string{"-listen", "-api-tokens"}},
		{args: []string{"jobs", "list", "-h"}, want: []string{"-cluster", "-status", "-request-id"}, notWant: []string{"-allowed-kinds", "-listen", "-namespaces"}},
		{args: []string{"jobs", "submit", "--help"}, want: []string{"YAML or JSON", "-allowed-kinds"}, notWant: []string{"-status"}},
		{args: []string{"jobs", "-h"}, want: []string{"pushd jobs submit", "pushd jobs list"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, errs := c.run(tt.args...)
			if code != 0 || errs != "" {
				t.Fatalf("exit %d, stderr %q", code, errs)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("help lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(out, w) {
					t.Errorf("help shows %q, which this command does not take:\n%s", w, out)
				}
			}
		})
	}
}

// Every command of the table answers --help with its own line of the
// table, and `pushd help` lists it.
func TestCLIEveryCommandHasHelp(t *testing.T) {
	c := newCLI(t)
	_, top, _ := c.run("help")
	var walk func(path string, es []entry)
	walk = func(path string, es []entry) {
		for _, e := range es {
			sub := strings.TrimSpace(path + " " + e.name)
			if e.group != nil {
				walk(sub, e.group)
				continue
			}
			cmd := e.new()
			_, isRunner := cmd.(runner)
			_, isStore := cmd.(storeCommand)
			if isRunner == isStore {
				t.Errorf("pushd %s must be exactly one of a runner and a storeCommand", sub)
			}
			code, out, errs := c.run(append(strings.Fields(sub), "--help")...)
			if want := "pushd " + sub + " - " + e.help + "\n"; code != 0 || errs != "" || !strings.HasPrefix(out, want) {
				t.Errorf("pushd %s --help (exit %d, stderr %q) does not start with %q:\n%s", sub, code, errs, want, out)
			}
			if line := regexp.MustCompile(`\n  ` + regexp.QuoteMeta(e.synopsis(sub)) + `\s+` + regexp.QuoteMeta(e.help) + `\n`); !line.MatchString(top) {
				t.Errorf("pushd help does not list %q with its help:\n%s", e.synopsis(sub), top)
			}
		}
	}
	walk("", commands)
}

// Flags come before, between or after a command's arguments; after "--"
// every word is an argument.
func TestCLIFlagsAnywhere(t *testing.T) {
	c := newCLI(t)
	if code, _, errs := c.run("clusters", "add", "--display-name", "Edge", "edge-1", "--namespaces", "team-a"); code != 0 {
		t.Fatalf("add: %s", errs)
	}
	if code, out, errs := c.run("clusters", "show", "edge-1"); code != 0 || !strings.Contains(out, `"Edge"`) || !strings.Contains(out, `"team-a"`) {
		t.Fatalf("the flags on both sides of the id must be taken (exit %d):\n%s%s", code, out, errs)
	}
	if code, _, errs := c.run("clusters", "show", "--", "-x"); code == 0 || !strings.Contains(errs, `cluster "-x"`) {
		t.Fatalf("after --, -x is an id (exit %d):\n%s", code, errs)
	}
}

// Errors come first, on one line, then a hint; never a page of usage.
func TestCLIErrorsFirstThenHint(t *testing.T) {
	c := newCLI(t)
	tests := []struct {
		args       []string
		first, hnt string
	}{
		{args: []string{"clusters", "add", "x", "--namespacs", "a"}, first: "pushd: flag provided but not defined: -namespacs", hnt: "pushd clusters add --help"},
		{args: []string{"--lisen", ":1"}, first: "pushd: flag provided but not defined: -lisen", hnt: "pushd serve --help"},
		{args: []string{"frobnicate"}, first: `pushd: unknown command "frobnicate"`, hnt: "pushd help"},
		{args: []string{"clusters", "frob"}, first: `pushd: unknown command "clusters frob"`, hnt: "pushd clusters --help"},
		{args: []string{"jobs", "get"}, first: "pushd: jobs get: one job id is required", hnt: "usage: pushd jobs get ID"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, errs := c.run(tt.args...)
			lines := strings.Split(strings.TrimRight(errs, "\n"), "\n")
			if code == 0 || len(lines) != 2 || lines[0] != tt.first || !strings.Contains(lines[1], tt.hnt) {
				t.Fatalf("exit %d, stderr:\n%s\nwant the line %q, then a hint naming %q", code, errs, tt.first, tt.hnt)
			}
		})
	}
}

// Re-running `clusters add` on an existing record changes only what its
// flags name.
func TestCLIClustersAddChangesOnlyItsFlags(t *testing.T) {
	c := newCLI(t)
	if code, _, errs := c.run("clusters", "add", "edge-1", "--namespaces", "team-a,team-b", "--applications", "nextcloud", "--display-name", "Edge"); code != 0 {
		t.Fatalf("add: %s", errs)
	}
	if code, _, errs := c.run("clusters", "add", "edge-1", "--drift-schedule", "*/5 * * * *"); code != 0 {
		t.Fatalf("re-add: %s", errs)
	}
	code, out, errs := c.run("clusters", "show", "edge-1")
	if code != 0 {
		t.Fatalf("show: %s", errs)
	}
	for _, want := range []string{`"team-a"`, `"team-b"`, `"nextcloud"`, `"Edge"`, `"*/5 * * * *"`, `"manifest"`} {
		if !strings.Contains(out, want) {
			t.Errorf("after re-running add with --drift-schedule only, the record lacks %s:\n%s", want, out)
		}
	}
	if code, _, _ := c.run("clusters", "add", "edge-1", "--namespaces", "team-c"); code != 0 {
		t.Fatal("add --namespaces")
	}
	if _, out, _ = c.run("clusters", "show", "edge-1"); strings.Contains(out, `"team-a"`) || !strings.Contains(out, `"team-c"`) || !strings.Contains(out, `"*/5 * * * *"`) {
		t.Errorf("--namespaces must replace the namespaces and keep the schedule:\n%s", out)
	}
}

const yamlJob = `# a job, as a person writes it
id: %s
cluster: %s
operation: {engine: manifest, type: deploy}
application: nextcloud
namespace: team-a
action: apply
manifests:
  - apiVersion: v1
    kind: ConfigMap
    metadata: {name: cfg}
    data: {k: v}
`

func jobFile(id, cluster string) string {
	return strings.Replace(strings.Replace(yamlJob, "%s", id, 1), "%s", cluster, 1)
}

// Messages name the id they are about.
func TestCLIMessagesNameTheirID(t *testing.T) {
	c := newCLI(t)
	code, _, errs := c.run("jobs", "submit", c.file(t, "j.yaml", jobFile("j-1", "ghost-7")))
	if code == 0 || !strings.Contains(errs, `cluster "ghost-7"`) || !strings.Contains(errs, `job "j-1"`) || !strings.Contains(errs, "pushd clusters list") {
		t.Fatalf("a job for an unknown cluster (exit %d):\n%s", code, errs)
	}
	if code, _, errs = c.run("clusters", "check", "ghost-7"); code == 0 || !strings.Contains(errs, `"ghost-7"`) {
		t.Fatalf("check of an unknown cluster (exit %d):\n%s", code, errs)
	}
}

// Job files are YAML or JSON.
func TestCLIJobFilesYAMLOrJSON(t *testing.T) {
	c := newCLI(t)
	// The admin kubeconfig has more rights than pushd needs: add stores it
	// and fails its check, which this test does not mind.
	if _, out, errs := c.run("clusters", "add", "edge-1", "--namespaces", "team-a", "--applications", "nextcloud", "--kubeconfig", bed.Clusters()[0].AdminKubeconfig, "--accept-excess-rights"); !strings.Contains(out, "cluster edge-1 created") {
		t.Fatal(out, errs)
	}
	if code, out, errs := c.run("jobs", "submit", c.file(t, "j.yaml", jobFile("y-1", "edge-1"))); code != 0 || !strings.Contains(out, "job y-1 queued on edge-1") {
		t.Fatalf("YAML job (exit %d): %s%s", code, out, errs)
	}
	js := `{"id": "j-1", "cluster": "edge-1", "operation": {"engine": "manifest", "type": "deploy"}, "application": "nextcloud",
		"namespace": "team-a", "action": "apply", "manifests": [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}}]}`
	if code, out, errs := c.run("jobs", "submit", c.file(t, "j.json", js)); code != 0 || !strings.Contains(out, "job j-1 queued") {
		t.Fatalf("JSON job (exit %d): %s%s", code, out, errs)
	}
	if code, _, errs := c.run("jobs", "submit", c.file(t, "bad.yaml", "id: x\nclustr: edge-1\n")); code == 0 || !strings.Contains(errs, `unknown field "clustr"`) {
		t.Fatalf("a typo'd field must be named (exit %d): %s", code, errs)
	}
	// A refusal names every refused object, not only the first.
	rbac := `{"id": "r-1", "cluster": "edge-1", "operation": {"engine": "manifest", "type": "deploy"}, "application": "nextcloud",
		"namespace": "team-a", "action": "apply", "manifests": [{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "sa"}},
		{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "role"}},
		{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "binding"}}]}`
	code, _, errs := c.run("jobs", "submit", c.file(t, "rbac.json", rbac))
	if code == 0 || !strings.Contains(errs, "ServiceAccount sa") || !strings.Contains(errs, "Role role") || !strings.Contains(errs, "RoleBinding binding") {
		t.Fatalf("a refusal of three objects (exit %d): %s", code, errs)
	}
}

// CLI jobs carry their own trigger, not Odoo's.
func TestCLIJobsCarryTheirTrigger(t *testing.T) {
	c := newCLI(t)
	if _, out, errs := c.run("clusters", "add", "edge-1", "--namespaces", "team-a", "--applications", "nextcloud", "--kubeconfig", bed.Clusters()[0].AdminKubeconfig, "--accept-excess-rights"); !strings.Contains(out, "cluster edge-1 created") {
		t.Fatal(out, errs)
	}
	if code, _, errs := c.run("jobs", "submit", c.file(t, "j.yaml", jobFile("t-1", "edge-1"))); code != 0 {
		t.Fatal(errs)
	}
	code, out, errs := c.run("jobs", "get", "t-1")
	if code != 0 || !strings.Contains(out, `"trigger": "cli"`) {
		t.Fatalf("a CLI job's trigger (exit %d): %s%s", code, out, errs)
	}
	if code, out, _ = c.run("jobs", "list", "--cluster", "edge-1"); code != 0 || !strings.Contains(out, "t-1") {
		t.Fatalf("jobs list: %s", out)
	}
}

// Admin commands print no client-go log lines on the terminal, only their
// own result. client-go's klog writes to the process's standard error, so
// the test watches that.
func TestCLINoClientGoNoise(t *testing.T) {
	c := newCLI(t)
	// The test bed's kubeconfig, pointed at a port nothing listens on.
	kc, err := clientcmd.LoadFromFile(bed.Clusters()[0].AdminKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	for _, cl := range kc.Clusters {
		cl.Server = "https://" + dead
	}
	path := filepath.Join(c.dir, "dead.kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}

	stderr := filepath.Join(t.TempDir(), "stderr")
	f, err := os.Create(stderr)
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = f
	code, out, errs := c.run("clusters", "add", "dead-1", "--namespaces", "team-a", "--kubeconfig", path)
	os.Stderr = saved
	f.Close()
	noise, _ := os.ReadFile(stderr)
	if code == 0 || !strings.Contains(out, "dead-1:") {
		t.Fatalf("add of a dead cluster (exit %d): %s%s", code, out, errs)
	}
	if len(noise) > 0 {
		t.Errorf("client-go printed on the terminal:\n%s", noise)
	}
	if lines := strings.Count(strings.TrimRight(errs, "\n"), "\n") + 1; lines > 2 {
		t.Errorf("the error takes %d lines:\n%s", lines, errs)
	}
	// The list says why, in a sentence, not in a Go error.
	if code, out, _ := c.run("clusters", "list"); code != 0 || !strings.Contains(out, "Nothing answers at the API server's address") || strings.Contains(out, "dial tcp") {
		t.Errorf("clusters list (exit %d):\n%s", code, out)
	}
}

// `serve` binds its port before anything else starts: a second pushd on a
// busy port fails without opening the database.
func TestCLIServeBindsFirst(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	dir := t.TempDir()
	db := filepath.Join(dir, "pushd.db")
	var errb bytes.Buffer
	code := Run(context.Background(), []string{"--listen", l.Addr().String(), "--database-url", "sqlite://" + db, "--kubeconfig-dir", dir}, env(nil), &bytes.Buffer{}, &errb)
	if code == 0 || !strings.Contains(errb.String(), "address already in use") || !strings.Contains(errb.String(), "listen "+l.Addr().String()) {
		t.Fatalf("exit %d, stderr:\n%s", code, errb.String())
	}
	if _, err := os.Stat(db); err == nil {
		t.Error("the database was opened before the port was bound")
	}
}

// bootstrap never says "ready" above a problem, counts in English, and says
// how to fix a namespace that does not exist.
func TestCLIBootstrapVerdict(t *testing.T) {
	c := newCLI(t)
	admin := bed.Clusters()[0].AdminKubeconfig
	if code, _, errs := c.run("clusters", "add", "edge-9", "--namespaces", "absent-ns"); code != 0 {
		t.Fatal(errs)
	}
	code, out, errs := c.run("clusters", "bootstrap", "--admin-kubeconfig", admin, "--cluster", "edge-9", "--token-ttl", "1h")
	if code == 0 || strings.Contains(out, "ready") || !strings.Contains(out, "edge-9: 1 problem (") ||
		!strings.Contains(out, "absent-ns: does not exist: create it, label it managed-by=vworkspace") || !strings.Contains(errs, `cluster "edge-9": 1 problem`+"\n") {
		t.Fatalf("bootstrap into a namespace that does not exist (exit %d):\n%s%s", code, out, errs)
	}
}
