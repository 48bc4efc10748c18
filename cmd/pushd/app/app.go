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
	"strings"
)

// Run runs pushd with args (without the program name) and returns the exit
// code. getenv supplies the environment (os.Getenv in production).
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") && !isHelp(args[0]) {
		args = append([]string{defaultCommand}, args...) // pushd [flags] is pushd serve [flags]
	}
	err := dispatch(ctx, "", commands, args, getenv, streams{out: stdout, err: stderr})
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

// hintedError is an error with what to do about it, printed on the line
// after the error.
type hintedError struct {
	err  error
	hint string
}

func (e *hintedError) Error() string { return e.err.Error() }
func (e *hintedError) Unwrap() error { return e.err }

func hint(err error, h string) error { return &hintedError{err: err, hint: h} }
