package app

import (
	"context"
	"flag"
	"fmt"

	"github.com/vworkspace/pushd/pkg/jobs"
	"github.com/vworkspace/pushd/pkg/store"
)

// jobsList is `pushd jobs list`: recent jobs, newest first, filtered by
// its flags.
type jobsList struct {
	admin
	org string
	o   jobs.ListOptions
}

func (c *jobsList) flags(fs *flag.FlagSet) map[string]string {
	organizationFlag(fs, &c.org, "job")
	fs.StringVar(&c.o.Cluster, "cluster", "", "only this cluster's jobs")
	fs.Func("status", "only jobs in this status", func(v string) error { c.o.Status = store.JobStatus(v); return nil })
	fs.StringVar(&c.o.RequestID, "request-id", "", "only the jobs of this request")
	fs.IntVar(&c.o.Limit, "limit", 50, "at most this many, newest first")
	return c.bindState(fs, 0)
}

func (c *jobsList) do(ctx context.Context, x *call, env *adminEnv) error {
	page, err := env.jobs.List(ctx, c.org, c.o)
	if err != nil {
		return err
	}
	w := newTable(x.io.out)
	fmt.Fprintln(w, "ID\tCLUSTER\tNAMESPACE/APPLICATION\tACTION\tSTATUS\tCREATED\tERROR")
	for _, j := range page.Items {
		msg := ""
		if j.Error != nil {
			msg = j.Error.Code + ": " + j.Error.Message
		}
		fmt.Fprintf(w, "%s\t%s\t%s/%s\t%s\t%s\t%s\t%s\n", j.ID, j.Cluster, j.Namespace, j.Application, j.Action, j.Status, j.CreatedAt.Format("2006-01-02 15:04:05"), msg)
	}
	return w.Flush()
}
