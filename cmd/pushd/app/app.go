// Package app is pushd's command line: `serve` (the default) and the admin
// subcommands. It is the composition root, the only place concrete types are
// wired together. Run takes everything from its arguments (no globals, no
// init side effects), so the whole CLI runs inside a test.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strings"

	"k8s.io/klog/v2"
)

// Version is stamped at build time: -ldflags "-X github.com/vworkspace/pushd/cmd/pushd/app.Version=v1.2.3".
var Version = ""

// streams are where a command writes.
type streams struct {
	out, err io.Writer
}

func (streams) discard() io.Writer { return io.Discard }

// hintedError is an error with what to do about it, printed on the line
// after the error.
type hintedError struct {
	err  error
	hint string
}

func (e *hintedError) Error() string { return e.err.Error() }
func (e *hintedError) Unwrap() error { return e.err }

func hint(err error, h string) error { return &hintedError{err: err, hint: h} }

// Run runs pushd with args (without the program name) and returns the exit
// code. getenv supplies the environment (os.Getenv in production).
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	io := streams{out: stdout, err: stderr}
	cmd, rest := "serve", args
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, rest = args[0], args[1:]
	}
	if len(args) > 0 && isHelp(args[0]) { // pushd --help: the commands, not serve's flags
		cmd, rest = "help", nil
	}
	var err error
	switch cmd {
	case "serve":
		err = serve(ctx, rest, getenv, io)
	case "clusters":
		err = clustersCmd(ctx, rest, getenv, io)
	case "jobs":
		err = jobsCmd(ctx, rest, getenv, io)
	case "backup":
		err = backupCmd(ctx, rest, getenv, io)
	case "manifests":
		err = manifestsCmd(ctx, rest, getenv, io)
	case "healthcheck":
		err = healthcheck(ctx, rest, getenv, io)
	case "version":
		fmt.Fprintln(stdout, "pushd", version())
	case "help":
		if len(rest) > 0 { // pushd help CMD [SUB] is pushd CMD [SUB] --help
			return Run(ctx, append(rest[:len(rest):len(rest)], "--help"), getenv, stdout, stderr)
		}
		usage(stdout)
	default:
		err = hint(fmt.Errorf("unknown command %q", cmd), "run 'pushd help' for the commands")
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "pushd:", err)
		if h, ok := errors.AsType[*hintedError](err); ok {
			fmt.Fprintln(stderr, h.hint)
		}
		return 1
	}
	return 0
}

func isHelp(arg string) bool { return arg == "-h" || arg == "--help" || arg == "-help" }

func usage(w io.Writer) {
	fmt.Fprint(w, `pushd - the Push-mode link between Odoo and vWorkspace clusters

Usage:
  pushd [serve] [flags]   run the daemon (the default)
  pushd clusters add ID [--namespaces a,b --applications x --kubeconfig F]
                          create a cluster record, or change what the flags name
  pushd clusters list     every cluster with its last observed state and, if not ready, why
  pushd clusters show ID  a record and what pushd observes, as JSON
  pushd clusters check ID probe now; non-zero exit unless ready with every right
  pushd clusters bootstrap --admin-kubeconfig F --cluster ID
                          mint a least-privilege ServiceAccount credential
  pushd jobs submit FILE  queue a job (YAML or JSON, as POST /api/v1/jobs takes it)
  pushd jobs get ID       a job with its per-object results, as JSON
  pushd jobs list         recent jobs (--cluster, --status, --request-id)
  pushd manifests rekey   seal stored manifests with the first --manifest-keys key (key rotation)
  pushd backup FILE       online copy of the SQLite database (PostgreSQL: pg_dump)
  pushd healthcheck       exit 0 when the local daemon answers /healthz (the image's HEALTHCHECK)
  pushd version           print the version
  pushd help [CMD]        this text, or a command's flags

Every command takes -h/--help: 'pushd serve --help', 'pushd clusters add --help'.
`)
}

func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// newLogger builds the process logger and routes client-go's klog into it,
// so every line pushd and its libraries print has one format.
func newLogger(w io.Writer, level slog.Level, format string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if format == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	log := slog.New(h)
	klog.SetSlogLogger(log.With("logger", "klog"))
	return log
}

// quietKlog silences client-go for the admin commands: they report what
// went wrong in their own one-line error, and client-go's retries and
// discovery complaints (memcache.go, reflector.go) are noise on a terminal.
func quietKlog() {
	klog.SetSlogLogger(slog.New(slog.DiscardHandler))
}
