// Command bench measures pushd end to end as a black box against real
// kube-apiservers and prints one Markdown table (and JSON) of figures, the
// baselines measured in the same run and the targets of issue 11:
//
//	go run ./test/bench            # the full run (well under 15 minutes on 2 cores)
//	go run ./test/bench --quick    # smaller sizes, a few minutes
//	go run ./test/bench --only single,reapply --json bench.json
//
// It builds the pushd binary, starts its own test bed (internal/testbed:
// etcd and kube-apiservers built from source, cached in $PUSHD_TESTBED_CACHE),
// runs `pushd serve` as subprocesses on loopback (internal/pushdproc; SQLite,
// and for the intake figure a throw-away PostgreSQL from internal/dbtest),
// registers clusters with the CLI (`pushd clusters add`, `pushd clusters
// bootstrap`) or the signed HTTP API, and submits signed jobs as Odoo does.
// API requests are counted from each API server's apiserver_request_total,
// or with a counting transport for the benchmark's own clients. Progress
// goes to stderr. Each scenario is a file of its own, named after it.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/vworkspace/pushd/internal/pushdproc"
	"github.com/vworkspace/pushd/internal/testbed"
)

var allScenarios = []string{"single", "reapply", "multi", "drift", "fleet", "small", "poll", "intake", "scale"}

type options struct {
	only          map[string]bool
	quick         bool
	jsonFile      string
	dir           string
	keep          bool
	objects       int
	multiApps     int
	multiObjects  int
	fleetJobs     int
	fleetObjects  int
	smallSeq      int
	smallBurst    int
	intakeClients int
	intakeJobs    int
	scaleClusters int
	idleWindow    time.Duration
	driftObjects  int
	noPostgres    bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	only := fs.String("only", "", "comma-separated scenarios to run (default all): "+strings.Join(allScenarios, ","))
	fs.BoolVar(&o.quick, "quick", false, "smaller sizes for a run of a few minutes (sizes given as flags still win)")
	fs.StringVar(&o.jsonFile, "json", "", "also write the results as JSON to this file")
	fs.StringVar(&o.dir, "dir", "", "working folder (test bed, pushd databases, logs); default a temporary one")
	fs.BoolVar(&o.keep, "keep", false, "keep the working folder afterwards")
	fs.IntVar(&o.objects, "objects", 300, "ConfigMaps in the one big job (single, reapply)")
	fs.IntVar(&o.multiApps, "multi-apps", 10, "applications submitted at once on one cluster (multi)")
	fs.IntVar(&o.multiObjects, "multi-objects", 30, "ConfigMaps per application (multi)")
	fs.IntVar(&o.fleetJobs, "fleet-jobs", 20, "jobs per cluster, on each of 3 clusters (fleet)")
	fs.IntVar(&o.fleetObjects, "fleet-objects", 10, "ConfigMaps per fleet job")
	fs.IntVar(&o.smallSeq, "small-seq", 30, "small jobs one after another (small)")
	fs.IntVar(&o.smallBurst, "small-burst", 50, "small jobs at once (small)")
	fs.IntVar(&o.intakeClients, "intake-clients", 8, "concurrent signing clients (intake)")
	fs.IntVar(&o.intakeJobs, "intake-jobs", 400, "submissions per client per database (intake; at most 999)")
	fs.IntVar(&o.scaleClusters, "scale-clusters", 500, "registered cluster records (scale)")
	fs.DurationVar(&o.idleWindow, "idle-window", 60*time.Second, "window over which idle API requests are counted (scale)")
	fs.IntVar(&o.driftObjects, "drift-objects", 1000, "objects under drift check (drift)")
	fs.BoolVar(&o.noPostgres, "no-postgres", false, "skip the PostgreSQL intake figure")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if o.quick {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		quick := map[string]string{
			"objects": "300", "multi-apps": "10", "multi-objects": "30", "fleet-jobs": "5", "fleet-objects": "5",
			"small-seq": "10", "small-burst": "20", "intake-jobs": "100", "scale-clusters": "30",
			"idle-window": "30s", "drift-objects": "200",
		}
		for name, v := range quick {
			if !set[name] {
				fs.Set(name, v)
			}
		}
	}
	o.only = map[string]bool{}
	if *only == "" {
		for _, s := range allScenarios {
			o.only[s] = true
		}
	} else {
		for _, s := range strings.Split(*only, ",") {
			s = strings.TrimSpace(s)
			if !slices.Contains(allScenarios, s) {
				return nil, fmt.Errorf("--only: unknown scenario %q (want %s)", s, strings.Join(allScenarios, ","))
			}
			o.only[s] = true
		}
	}
	if o.only["poll"] {
		o.only["drift"] = true // polls the objects drift applied
	}
	if o.only["reapply"] {
		o.only["single"] = true // re-apply needs the first apply
	}
	if o.intakeJobs > 999 {
		return nil, fmt.Errorf("--intake-jobs must stay under pushd's backpressure limit of 1,000 queued jobs per cluster")
	}
	return o, nil
}

// bench holds what every scenario shares.
type bench struct {
	opts    *options
	dir     string
	bin     string
	bed     *testbed.Bed
	api     []*apiServer
	main    *pushd
	first   *firstApply // single's, for reapply
	results []row
	start   time.Time
	stderr  io.Writer
}

func (b *bench) progress(format string, args ...any) {
	fmt.Fprintf(b.stderr, "[%6.1fs] %s\n", time.Since(b.start).Seconds(), fmt.Sprintf(format, args...))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	opts, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	b := &bench{opts: opts, start: time.Now(), stderr: stderr}
	b.dir = opts.dir
	if b.dir == "" {
		if b.dir, err = os.MkdirTemp("", "pushd-bench-"); err != nil {
			return err
		}
		if !opts.keep {
			defer os.RemoveAll(b.dir)
		}
	}
	if b.dir, err = filepath.Abs(b.dir); err != nil {
		return err
	}
	if err := os.MkdirAll(b.dir, 0o755); err != nil {
		return err
	}

	b.progress("building pushd")
	if b.bin, err = pushdproc.Build(b.dir); err != nil {
		return err
	}

	clusters := 1
	if opts.only["fleet"] || opts.only["scale"] || opts.only["drift"] || opts.only["poll"] {
		clusters = 3
	}
	b.progress("starting the test bed (%d API servers; the first run builds them, waiting on the build lock if another build runs)", clusters)
	b.bed, err = testbed.Start(ctx, testbed.Options{Clusters: clusters, Dir: filepath.Join(b.dir, "testbed"),
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return err
	}
	defer func() {
		b.progress("stopping the test bed")
		b.bed.Stop()
	}()
	for _, c := range b.bed.Clusters {
		a, err := newAPIServer(c)
		if err != nil {
			return err
		}
		b.api = append(b.api, a)
	}
	b.progress("test bed ready: %d API servers", len(b.bed.Clusters))

	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"single", b.single},
		{"reapply", b.reapply},
		{"multi", b.multi},
		{"drift", b.drift},
		{"fleet", b.fleet},
		{"small", b.small},
		{"poll", b.poll},
		{"intake", b.intake},
		{"scale", b.scale},
	}
	needMain := false
	for _, s := range []string{"single", "multi", "drift", "fleet", "small"} {
		needMain = needMain || opts.only[s]
	}
	if needMain {
		if err := b.startMain(ctx); err != nil {
			return err
		}
	}
	for _, s := range steps {
		if !opts.only[s.name] {
			continue
		}
		if s.name == "poll" || s.name == "intake" || s.name == "scale" {
			// Measured alone: the job pushd's probes and workers would add
			// to the RSS, request and latency figures.
			if b.main != nil {
				b.main.stop()
			}
		}
		t0 := time.Now()
		b.progress("scenario %s: start", s.name)
		if err := s.fn(ctx); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			b.progress("scenario %s: FAILED after %s: %v", s.name, time.Since(t0).Round(time.Millisecond), err)
			b.add(row{Scenario: s.name, Figure: "scenario", NA: "failed: " + oneLine(err.Error())})
			continue
		}
		b.progress("scenario %s: done in %s", s.name, time.Since(t0).Round(time.Millisecond))
	}
	if b.main != nil {
		b.main.stop()
	}
	total := time.Since(b.start)
	b.progress("all done in %s", total.Round(time.Second))

	fmt.Fprint(stdout, renderTable(b.results))
	fmt.Fprintf(stdout, "\nWhole run: %s (`go run ./test/bench %s`), %s, %d CPUs.\n", total.Round(time.Second), strings.Join(args, " "), time.Now().UTC().Format("2006-01-02"), numCPU())
	if opts.jsonFile != "" {
		data, err := json.MarshalIndent(map[string]any{
			"args": args, "started": b.start.UTC(), "seconds": total.Seconds(), "cpus": numCPU(), "results": b.results,
		}, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(opts.jsonFile, append(data, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
