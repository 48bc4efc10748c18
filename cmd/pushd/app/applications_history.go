package app

import (
	"context"
	"flag"
	"fmt"
)

// applicationsHistory is `pushd applications history --cluster ID
// --namespace NS APP`: the application's jobs, newest first, with what a
// rollback to each needs (its manifests retained, their digest).
type applicationsHistory struct {
	admin
	org, cluster, namespace string
	limit                   int
}

func (c *applicationsHistory) flags(fs *flag.FlagSet) map[string]string {
	organizationFlag(fs, &c.org, "cluster")
	fs.StringVar(&c.cluster, "cluster", "", "the application's cluster (required)")
	fs.StringVar(&c.namespace, "namespace", "", "the application's namespace (required)")
	fs.IntVar(&c.limit, "limit", 50, "at most this many, newest first")
	return c.bindState(fs, 0)
}

func (c *applicationsHistory) do(ctx context.Context, x *call, env *adminEnv) error {
	if c.cluster == "" || c.namespace == "" {
		return x.usageError(fmt.Errorf("%s: --cluster and --namespace are required", x.path))
	}
	h, err := env.jobs.History(ctx, c.org, c.cluster, c.namespace, x.arg, "", c.limit)
	if err != nil {
		return fmt.Errorf("application %s/%s of cluster %q: %w", c.namespace, x.arg, c.cluster, err)
	}
	w := newTable(x.io.out)
	fmt.Fprintln(w, "ID\tACTION\tTRIGGER\tSTATUS\tSOURCE\tMANIFESTS\tCREATED\tERROR")
	for _, e := range h.Items {
		source, manifests, msg := "-", "-", ""
		if e.SourceJob != nil {
			source = *e.SourceJob
		}
		if e.ManifestDigest != nil {
			manifests = (*e.ManifestDigest)[:12]
		}
		if !e.ManifestsRetained {
			manifests += " (not retained)"
		}
		if e.Error != nil {
			msg = e.Error.Code + ": " + e.Error.Message
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.Action, e.Trigger, e.Status, source, manifests, e.CreatedAt.Format("2006-01-02 15:04:05"), msg)
	}
	return w.Flush()
}
