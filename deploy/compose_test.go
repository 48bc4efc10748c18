package deploy

import (
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// composeFile is the part of the Compose specification deploy/compose.yaml uses.
type composeFile struct {
	Services map[string]struct {
		Image string `json:"image"`
		Build *struct {
			Context string `json:"context"`
		} `json:"build"`
		Environment map[string]string `json:"environment"`
		DependsOn   map[string]struct {
			Condition string `json:"condition"`
		} `json:"depends_on"`
		Healthcheck *struct {
			Test []string `json:"test"`
		} `json:"healthcheck"`
		Volumes []string `json:"volumes"`
	} `json:"services"`
	Volumes map[string]any `json:"volumes"`
}

// TestComposeFile parses deploy/compose.yaml and checks what it must say:
// pushd built from this repository, on the PostgreSQL service once that is
// healthy, every variable one pushd reads, secrets only from the
// environment, and its state in named volumes.
func TestComposeFile(t *testing.T) {
	data, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	pushd, ok := c.Services["pushd"]
	if !ok {
		t.Fatal("no pushd service")
	}
	pg, ok := c.Services["postgres"]
	if !ok {
		t.Fatal("no postgres service")
	}
	if pushd.Build == nil {
		t.Fatal("pushd: no build")
	}
	if _, err := os.Stat(filepath.Join(pushd.Build.Context, "Dockerfile")); err != nil {
		t.Errorf("pushd: build context %q has no Dockerfile: %v", pushd.Build.Context, err)
	}
	if !strings.HasPrefix(pg.Image, "postgres:") || pg.Healthcheck == nil || len(pg.Healthcheck.Test) == 0 {
		t.Errorf("postgres: image %q, healthcheck %+v: want a postgres image with a health check", pg.Image, pg.Healthcheck)
	}
	if d := pushd.DependsOn["postgres"]; d.Condition != "service_healthy" {
		t.Errorf("pushd depends on postgres with condition %q, want service_healthy", d.Condition)
	}

	known := knownVariables(t)
	interpolation := regexp.MustCompile(`\$\{[A-Z_]+(:?[-?][^}]*)?\}`)
	for name, v := range pushd.Environment {
		if !known[name] {
			t.Errorf("pushd: %s is not a variable pushd reads", name)
		}
		if strings.Contains(name, "SECRET") || strings.Contains(name, "TOKEN") {
			if !interpolation.MatchString(v) || interpolation.ReplaceAllString(v, "") != "" {
				t.Errorf("pushd: %s = %q: a secret must come from the environment (${…}), never the file", name, v)
			}
		}
	}
	dbURL := interpolation.ReplaceAllString(pushd.Environment["PUSHD_DATABASE_URL"], "x")
	u, err := url.Parse(dbURL)
	if err != nil || u.Scheme != "postgres" || u.Hostname() != "postgres" {
		t.Errorf("PUSHD_DATABASE_URL %q: want postgres://…@postgres…", pushd.Environment["PUSHD_DATABASE_URL"])
	}
	if strings.Contains(pushd.Environment["PUSHD_DATABASE_URL"], pg.Environment["POSTGRES_PASSWORD"]) == false {
		t.Errorf("PUSHD_DATABASE_URL does not use the password postgres is given (%s)", pg.Environment["POSTGRES_PASSWORD"])
	}

	// pushd's state outlives its container: the kubeconfig folder is a
	// named volume (the database is PostgreSQL's), and so is PostgreSQL's.
	mounts := map[string]string{}
	for _, s := range []struct {
		name    string
		volumes []string
	}{{"pushd", pushd.Volumes}, {"postgres", pg.Volumes}} {
		for _, v := range s.volumes {
			src, dst, _ := strings.Cut(v, ":")
			dst, _, _ = strings.Cut(dst, ":")
			mounts[s.name+":"+dst] = src
		}
	}
	for _, m := range []string{"pushd:/kubeconfigs", "postgres:/var/lib/postgresql/data"} {
		src, ok := mounts[m]
		if !ok {
			t.Errorf("%s: not mounted", m)
			continue
		}
		if _, declared := c.Volumes[src]; !declared {
			t.Errorf("%s: %q is not a named volume", m, src)
		}
	}
	if _, ok := mounts["pushd:/tls"]; !ok {
		t.Error("pushd: no certificate at /tls (the image serves HTTPS from it)")
	}
}
