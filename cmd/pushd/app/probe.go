package app

import (
	"context"
	"fmt"
	"time"

	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/health"
)

// check probes org's cluster id now (fleet.Check) and reports what it
// found, as clusters check and bootstrap do.
func check(ctx context.Context, env *adminEnv, org, id string, io streams) error {
	rec, st, err := env.fleet.Check(ctx, org, id)
	if err != nil {
		return fmt.Errorf("cluster %q: %w", id, err)
	}
	return report(rec, st, io)
}

// report prints what a probe found (clusters add --kubeconfig, check,
// bootstrap) and fails unless the cluster is ready
// with every right it needs. The first line is the verdict (never "ready"
// above a list of problems); each problem says how to fix it.
func report(rec *clusters.Record, st health.Status, io streams) error {
	c := st.Connectivity
	var lines []string
	if st.Credential.Subject != "" {
		exp := "never"
		if st.Credential.Expiry != nil {
			exp = st.Credential.Expiry.Format(time.RFC3339)
		}
		lines = append(lines, fmt.Sprintf("  credential  %s, expires %s", st.Credential.Subject, exp))
	}
	problems := 0
	problem := func(format string, a ...any) {
		lines = append(lines, fmt.Sprintf(format, a...))
		problems++
	}
	for _, e := range st.Credential.ExcessRights {
		problem("  EXCESS      %s", e)
	}
	for _, ns := range st.Namespaces {
		switch {
		case !ns.Exists:
			problem("  namespace   %s: does not exist: create it, label it %s=%s, then run pushd clusters bootstrap", ns.Name, clusters.ManagedNamespaceLabel, clusters.ManagedNamespaceValue)
		case !ns.Labeled:
			problem("  namespace   %s: not labeled %s=%s", ns.Name, clusters.ManagedNamespaceLabel, clusters.ManagedNamespaceValue)
		case !ns.RightsOK:
			problem("  namespace   %s: missing %d rights, e.g. %s", ns.Name, len(ns.MissingRights), ns.MissingRights[0])
		default:
			lines = append(lines, fmt.Sprintf("  namespace   %s: ok", ns.Name))
		}
		for _, e := range ns.ExcessRights {
			problem("  EXCESS      %s in %s", e, ns.Name)
		}
	}
	verdict := string(c.State)
	if c.State == health.StateReady && problems > 0 {
		verdict = plural(problems, "problem")
	}
	if c.Message != "" {
		verdict += " (" + c.Message + ")"
	}
	fmt.Fprintf(io.out, "%s: %s\n", rec.ID, verdict)
	for _, l := range lines {
		fmt.Fprintln(io.out, l)
	}
	if c.State != health.StateReady {
		return fmt.Errorf("cluster %q is %s", rec.ID, c.State)
	}
	if problems > 0 {
		return fmt.Errorf("cluster %q: %s", rec.ID, plural(problems, "problem"))
	}
	return nil
}

// plural is "1 problem", "2 problems".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
