package app

import (
	"context"
	"flag"
	"fmt"
	"runtime/debug"
)

// Version is stamped at build time: -ldflags "-X github.com/vworkspace/pushd/cmd/pushd/app.Version=v1.2.3".
var Version = ""

// versionCmd is `pushd version`.
type versionCmd struct{}

func (*versionCmd) flags(*flag.FlagSet) map[string]string { return nil }

func (*versionCmd) run(_ context.Context, c *call) error {
	fmt.Fprintln(c.io.out, "pushd", version())
	return nil
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
