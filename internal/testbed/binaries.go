package testbed

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// Binaries are the server programs the test bed runs.
type Binaries struct {
	KubeAPIServer string
	Etcd          string
	// KubernetesVersion is the pinned release they were built from, e.g. v1.37.2.
	KubernetesVersion string
}

// EnsureBinaries returns kube-apiserver and etcd built from the module in
// hack/kube, building them on first use. Builds are cached under
// $PUSHD_TESTBED_CACHE (default <repo>/.cache/testbed) in a folder keyed by
// the pinned version and a hash of the build inputs, so they are rebuilt only
// when hack/kube changes. A file lock lets concurrent test binaries share one
// build.
func EnsureBinaries(ctx context.Context, log *slog.Logger) (Binaries, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	root, err := repoRoot()
	if err != nil {
		return Binaries{}, err
	}
	src := filepath.Join(root, "hack", "kube")
	version, key, err := buildKey(src)
	if err != nil {
		return Binaries{}, err
	}
	cache := os.Getenv("PUSHD_TESTBED_CACHE")
	if cache == "" {
		cache = filepath.Join(root, ".cache", "testbed")
	}
	dir := filepath.Join(cache, version+"-"+key)
	bins := Binaries{
		KubeAPIServer:     filepath.Join(dir, "kube-apiserver"),
		Etcd:              filepath.Join(dir, "etcd"),
		KubernetesVersion: version,
	}
	if built(bins) {
		return bins, nil
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return Binaries{}, err
	}
	lock, err := os.OpenFile(filepath.Join(cache, "build.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return Binaries{}, err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return Binaries{}, fmt.Errorf("testbed: lock build cache: %w", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if built(bins) { // another process built them while we waited
		return bins, nil
	}
	tmp, err := os.MkdirTemp(cache, "build-")
	if err != nil {
		return Binaries{}, err
	}
	defer os.RemoveAll(tmp)
	log.Info("building kube-apiserver and etcd from source; the first build takes about 10-13 minutes on 2 cores",
		"kubernetes", version, "cache", dir)
	start := time.Now()
	ldflags := strings.Join([]string{
		"-s", "-w",
		"-X k8s.io/component-base/version.gitVersion=" + version,
		"-X k8s.io/component-base/version.gitMajor=" + major(version),
		"-X k8s.io/component-base/version.gitMinor=" + minor(version),
		"-X k8s.io/component-base/version.gitTreeState=clean",
		"-X k8s.io/component-base/version.buildDate=1970-01-01T00:00:00Z",
	}, " ")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", ldflags, "-o", tmp+string(filepath.Separator), "./kube-apiserver", "./etcd")
	cmd.Dir = src
	if out, err := cmd.CombinedOutput(); err != nil {
		return Binaries{}, fmt.Errorf("testbed: build in %s: %w\n%s", src, err, out)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return Binaries{}, err
	}
	log.Info("built test-bed binaries", "elapsed", time.Since(start).Round(time.Second), "dir", dir)
	return bins, nil
}

func built(b Binaries) bool {
	for _, p := range []string{b.KubeAPIServer, b.Etcd} {
		if fi, err := os.Stat(p); err != nil || fi.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

var kubeRequire = regexp.MustCompile(`(?m)^\s*(?:require\s+)?k8s\.io/kubernetes\s+(v\S+)`)

// buildKey reads the pinned Kubernetes version from hack/kube/go.mod and
// hashes every input of the build.
func buildKey(src string) (version, key string, err error) {
	h := sha256.New()
	fmt.Fprintln(h, runtime.Version())
	for _, name := range []string{"go.mod", "go.sum", "kube-apiserver/main.go", "etcd/main.go"} {
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			return "", "", fmt.Errorf("testbed: %w", err)
		}
		if name == "go.mod" {
			m := kubeRequire.FindSubmatch(b)
			if m == nil {
				return "", "", errors.New("testbed: hack/kube/go.mod does not require k8s.io/kubernetes")
			}
			version = string(m[1])
		}
		fmt.Fprintf(h, "%s\n%d\n", name, len(b))
		h.Write(b)
	}
	return version, hex.EncodeToString(h.Sum(nil))[:12], nil
}

func major(v string) string { return strings.Split(strings.TrimPrefix(v, "v"), ".")[0] }
func minor(v string) string {
	p := strings.Split(strings.TrimPrefix(v, "v"), ".")
	if len(p) < 2 {
		return "0"
	}
	return p[1]
}

// repoRoot finds the pushd checkout from the working directory (tests run in
// their package folder) or from $PUSHD_REPO_ROOT.
func repoRoot() (string, error) {
	if r := os.Getenv("PUSHD_REPO_ROOT"); r != "" {
		return r, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "hack", "kube", "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("testbed: hack/kube/go.mod not found above the working directory; run from the pushd checkout or set PUSHD_REPO_ROOT")
		}
		dir = parent
	}
}
