package deploy

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vworkspace/pushd/internal/tlstest"
)

// TestImageRunsAsNonRootOnFreshVolumes builds pushd the way the Dockerfile
// does and runs it the way the image would: chrooted into a root file
// system holding only what the final stage puts there, as the image's USER,
// with the image's environment, its VOLUMEs fresh. It then asks the image's
// HEALTHCHECK and looks at what the process wrote.
//
// No Docker engine is needed: the Dockerfile is interpreted here, with
// these rules (any other instruction fails the test, so nothing is
// silently ignored):
//   - build stage: RUN runs in the repository (its WORKDIR after COPY . .)
//     with its ARGs set and /out mapped to a temporary folder;
//   - final stage: COPY --from=<build> [--chown=U:G] copies from that folder
//     keeping modes; ENV, USER, ENTRYPOINT, CMD, HEALTHCHECK are applied as
//     Docker does; VOLUME creates a path the image does not already have as
//     root, mode 0755 — which is what Docker does, and why a volume the
//     image does not prepare is not writable by a non-root USER.
func TestImageRunsAsNonRootOnFreshVolumes(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: chroot and switching to the image's USER")
	}
	stages := parseDockerfile(t, "../Dockerfile")
	if len(stages) != 2 {
		t.Fatalf("Dockerfile: %d stages, want build and final", len(stages))
	}
	build, final := stages[0], stages[1]
	if !strings.HasPrefix(final.name, "gcr.io/distroless/static") {
		t.Fatalf("final stage from %s, want a distroless static base (the binary must be static)", final.name)
	}
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	out := filepath.Join(tmp, "out")
	mapOut := func(s string) string { return strings.ReplaceAll(s, "/out/", out+"/") }
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}

	// The build stage.
	buildEnv := append(os.Environ(), "CGO_ENABLED=0")
	for _, in := range build.steps {
		switch in.cmd {
		case "WORKDIR", "COPY": // the source is the repository itself
		case "ARG":
			k, v, _ := strings.Cut(in.args, "=")
			buildEnv = append(buildEnv, k+"="+v)
		case "RUN":
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
			cmd := exec.CommandContext(ctx, "sh", "-c", mapOut(in.args))
			cmd.Dir, cmd.Env = repo, buildEnv
			start := time.Now()
			o, err := cmd.CombinedOutput()
			cancel()
			if err != nil {
				t.Fatalf("RUN %s: %v\n%s", in.args, err, o)
			}
			t.Logf("RUN %.60s… %s", in.args, time.Since(start).Round(time.Second))
		default:
			t.Fatalf("%s: %s is not interpreted by this test", build, in.cmd)
		}
	}

	// The final stage, into a root file system. The distroless base brings
	// /tmp (1777) and little else the process needs.
	root := filepath.Join(tmp, "rootfs")
	mkdir(t, root, 0o755, 0, 0)
	mkdir(t, filepath.Join(root, "tmp"), 0o1777, 0, 0)
	var (
		env                                 = []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
		uid, gid                            = -1, -1
		entrypoint, cmdArgs, healthcheckCmd []string
		volumes                             []string
	)
	for _, in := range final.steps {
		switch in.cmd {
		case "COPY":
			flags, rest := flagsAndRest(in.args)
			if flags["from"] != build.name || len(rest) != 2 {
				t.Fatalf("COPY %s: want --from=%s SRC DST", in.args, build.name)
			}
			owner := [2]int{0, 0}
			if c, ok := flags["chown"]; ok {
				owner = ids(t, c)
			}
			copyTree(t, mapOut(rest[0]), filepath.Join(root, rest[1]), owner)
		case "ENV":
			for _, kv := range envPairs(t, in.args) {
				env = append(env, kv[0]+"="+kv[1])
			}
		case "VOLUME":
			volumes = execForm(t, in)
			for _, v := range volumes {
				if _, err := os.Stat(filepath.Join(root, v)); os.IsNotExist(err) {
					mkdir(t, filepath.Join(root, v), 0o755, 0, 0)
				}
			}
		case "USER":
			u := ids(t, in.args)
			uid, gid = u[0], u[1]
		case "ENTRYPOINT":
			entrypoint = execForm(t, in)
		case "CMD":
			cmdArgs = execForm(t, in)
		case "HEALTHCHECK":
			_, c, ok := strings.Cut(in.args, "CMD ")
			if !ok {
				t.Fatalf("HEALTHCHECK %s: want … CMD [\"…\"]", in.args)
			}
			healthcheckCmd = execForm(t, instruction{cmd: "HEALTHCHECK CMD", args: c})
		case "EXPOSE":
		default:
			t.Fatalf("%s: %s is not interpreted by this test", final, in.cmd)
		}
	}
	if uid <= 0 || gid <= 0 {
		t.Fatalf("USER %d:%d: the image must run as a non-root user and group", uid, gid)
	}
	if healthcheckCmd == nil {
		t.Fatal("the image has no HEALTHCHECK")
	}
	// A TLS Secret mounted at /tls, as deploy/kubernetes does; and the port
	// moved to a free one (a port mapping, nothing else of the environment
	// changes) so parallel runs of this test do not collide.
	writeTLS(t, filepath.Join(root, "tls"))
	env = append(env, "PUSHD_LISTEN=0.0.0.0:"+strconv.Itoa(freePort(t)))

	var log bytes.Buffer
	srv := inImage(root, uid, gid, env, append(entrypoint, cmdArgs...)...)
	srv.Stdout, srv.Stderr = &log, &log
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	defer func() {
		srv.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			srv.Process.Kill()
		}
	}()

	deadline := time.Now().Add(60 * time.Second)
	for {
		hc := inImage(root, uid, gid, env, healthcheckCmd...)
		o, err := hc.CombinedOutput()
		if err == nil {
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("pushd exited (%v) before it was healthy:\n%s", err, log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("HEALTHCHECK still failing after 60s: %v: %s\npushd:\n%s", err, o, log.String())
		}
		time.Sleep(300 * time.Millisecond)
	}

	// The database is the process's own, owner-only; every volume belongs
	// to the image's user, so credentials can be written there too.
	if fi, err := os.Stat(filepath.Join(root, "data", "pushd.db")); err != nil {
		t.Errorf("database: %v", err)
	} else if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != uid || fi.Mode().Perm() != 0o600 {
		t.Errorf("database: owner %d mode %o, want %d 600", st.Uid, fi.Mode().Perm(), uid)
	}
	for _, v := range volumes {
		fi, err := os.Stat(filepath.Join(root, v))
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != uid || int(st.Gid) != gid || fi.Mode().Perm() != 0o700 {
			t.Errorf("VOLUME %s: owner %d:%d mode %o, want %d:%d 700", v, st.Uid, st.Gid, fi.Mode().Perm(), uid, gid)
		}
	}

	// SIGTERM is a clean stop.
	srv.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("pushd after SIGTERM: %v\n%s", err, log.String())
		}
	case <-time.After(30 * time.Second):
		t.Errorf("pushd still running 30s after SIGTERM")
	}
}

// inImage is argv run chrooted at root as uid:gid with only env.
func inImage(root string, uid, gid int, env []string, argv ...string) *exec.Cmd {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Chroot:     root,
		Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)},
		Pdeathsig:  syscall.SIGKILL,
	}
	return cmd
}

func ids(t *testing.T, s string) [2]int {
	t.Helper()
	u, g, ok := strings.Cut(s, ":")
	if !ok {
		g = u
	}
	a, err1 := strconv.Atoi(u)
	b, err2 := strconv.Atoi(g)
	if err1 != nil || err2 != nil {
		t.Fatalf("%q: want numeric UID:GID (a name needs /etc/passwd to resolve)", s)
	}
	return [2]int{a, b}
}

func mkdir(t *testing.T, path string, mode os.FileMode, uid, gid int) {
	t.Helper()
	if err := os.MkdirAll(path, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, uid, gid); err != nil {
		t.Fatal(err)
	}
}

// copyTree copies src (a file or a folder's contents) to dst keeping modes
// and giving what it creates owner, as COPY --chown does.
func copyTree(t *testing.T, src, dst string, owner [2]int) {
	t.Helper()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if rel == "." && fi.IsDir() {
			if _, err := os.Stat(to); err == nil {
				return nil // COPY leaves a folder the image already has as it is
			}
		}
		if fi.IsDir() {
			if err := os.MkdirAll(to, 0o755); err != nil {
				return err
			}
		} else {
			if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
				return err
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if err := os.WriteFile(to, data, fi.Mode().Perm()); err != nil {
				return err
			}
		}
		if err := os.Chmod(to, fi.Mode()); err != nil {
			return err
		}
		return os.Chown(to, owner[0], owner[1])
	})
	if err != nil {
		t.Fatalf("COPY %s %s: %v", src, dst, err)
	}
}

// writeTLS writes a self-signed tls.crt and tls.key readable by anyone, as
// a Secret volume with the default mode is.
func writeTLS(t *testing.T, dir string) {
	t.Helper()
	mkdir(t, dir, 0o755, 0, 0)
	tlstest.WritePair(t, dir, 1, "pushd")
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
