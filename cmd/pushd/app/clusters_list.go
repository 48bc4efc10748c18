package app

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"
)

// clustersList is `pushd clusters list`: every cluster with its last
// observed state and, if not ready, why.
type clustersList struct {
	admin
}

func (c *clustersList) flags(fs *flag.FlagSet) map[string]string { return c.bindState(fs, 0) }

func (c *clustersList) do(ctx context.Context, x *call, env *adminEnv) error {
	recs, err := env.registry.List(ctx, "")
	if err != nil {
		return err
	}
	observed, err := env.monitor.ObservedAll(ctx)
	if err != nil {
		return err
	}
	w := newTable(x.io.out)
	fmt.Fprintln(w, "ID\tORGANIZATION\tSTATE\tCHECKED\tNAMESPACES\tREASON")
	for _, r := range recs {
		st := observed[r.ID]
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Organization, st.Connectivity.State, ago(st.Connectivity.CheckedAt), strings.Join(r.AllowedNamespaces, ","), st.Connectivity.Reason())
	}
	return w.Flush()
}

func ago(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return time.Since(*t).Round(time.Second).String() + " ago"
}
