// Package pushdproc runs the real pushd binary for tests and the benchmark
// whose point is a process: one that is killed with SIGKILL, stopped, and
// started again on the same address and database. The binary is built once
// (Build); each Proc is one run of `pushd serve`, and Run runs any other
// command of it to completion.
package pushdproc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/vworkspace/pushd/internal/logbuf"
)

// Build compiles pushd into dir and returns the binary's path.
func Build(dir string) (string, error) {
	bin := filepath.Join(dir, "pushd")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/vworkspace/pushd/cmd/pushd").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("build pushd: %w\n%s", err, out)
	}
	return bin, nil
}

// Options describe one run of `pushd serve`.
type Options struct {
	// Binary is what Build returned.
	Binary string
	// Addr is the loopback address to serve plain HTTP on (host:port); a
	// restart reuses it, so clients keep their base URL.
	Addr string
	// Env is added to this process's environment: the PUSHD_* settings.
	Env []string
	// Args follow `serve --listen Addr` on the command line.
	Args []string
	// ReadyTimeout bounds the wait for /readyz to answer 200. Default 30s.
	ReadyTimeout time.Duration
	// Log receives the process's output; a fresh buffer when nil. Passing
	// the same buffer to every run keeps one log across restarts.
	Log *logbuf.Buffer
	// Output, when set, receives the output too (a log file).
	Output io.Writer
}

// Proc is a running pushd.
type Proc struct {
	// Base is http://Addr.
	Base string
	Log  *logbuf.Buffer

	cmd    *exec.Cmd
	exited chan struct{}
}

// Start starts pushd and waits until /readyz answers 200. The process gets
// SIGKILL if the test binary dies, so it cannot outlive the test, and has a
// process group of its own, so a Ctrl-C at the terminal reaches only the
// parent, which stops it.
func Start(opts Options) (*Proc, error) {
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 30 * time.Second
	}
	if opts.Log == nil {
		opts.Log = &logbuf.Buffer{}
	}
	p := &Proc{Base: "http://" + opts.Addr, Log: opts.Log, exited: make(chan struct{})}
	p.cmd = exec.Command(opts.Binary, append([]string{"serve", "--listen", opts.Addr}, opts.Args...)...)
	p.cmd.Env = append(os.Environ(), opts.Env...)
	var out io.Writer = opts.Log
	if opts.Output != nil {
		out = io.MultiWriter(opts.Log, opts.Output)
	}
	p.cmd.Stdout, p.cmd.Stderr = out, out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start pushd: %w", err)
	}
	go func() { p.cmd.Wait(); close(p.exited) }()
	deadline := time.Now().Add(opts.ReadyTimeout)
	for {
		select {
		case <-p.exited:
			return nil, errors.New("pushd exited while starting")
		default:
		}
		if resp, err := http.Get(p.Base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		if time.Now().After(deadline) {
			p.Kill9()
			return nil, fmt.Errorf("pushd not ready after %s", opts.ReadyTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Kill9 ends the process with SIGKILL, as a power cut would, and waits until
// it is gone.
func (p *Proc) Kill9() { p.cmd.Process.Signal(syscall.SIGKILL); <-p.exited }

// Stop asks the process to drain and exit (SIGTERM) and waits until it did.
func (p *Proc) Stop() { p.cmd.Process.Signal(syscall.SIGTERM); <-p.exited }

// Exited is closed once the process is gone.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

// Run runs one other command of pushd (`pushd clusters add …`) to its end,
// with env added to this process's environment, and returns its output; an
// exit status other than 0 is an error that quotes the output.
func Run(ctx context.Context, binary string, env []string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("pushd %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return out, nil
}
