package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"

	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/fleet"
	"github.com/vworkspace/pushd/pkg/jobs"
	"github.com/vworkspace/pushd/pkg/store"
)

// The admin subcommands' changes go to the organization's audit log as the
// CLI's, named by the local user. Each entry is written right after its
// change, which pkg/clusters or pkg/jobs write in their own transactions
// (their verbs do not carry who asked); a failure to write it is reported
// on standard error, not as the command's failure: the change is done.

// localUser names who runs the command: $USER, else the account of the
// process's uid, else the uid.
func localUser(getenv func(string) string) string {
	if u := getenv("USER"); u != "" {
		return u
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return fmt.Sprintf("uid:%d", os.Getuid())
}

// audit records action of org on cluster (and subject) with the outcome of err.
func (e *adminEnv) audit(ctx context.Context, org string, action store.AuditAction, cluster, subject string, err error) {
	entry := &store.AuditEntry{Organization: org, ActorKind: store.ActorCLI, ActorID: e.user, Action: action,
		Cluster: cluster, Subject: subject, Outcome: auditOutcome(err)}
	if rec, err := e.registry.Get(ctx, org, cluster); err == nil {
		entry.ClusterUID = rec.UID
	}
	if err := e.store.AppendAudit(ctx, entry); err != nil {
		fmt.Fprintf(e.stderr, "warning: audit entry %s of cluster %q not written: %v\n", action, cluster, err)
	}
}

// auditOutcome is "ok", or the error code the API would answer err with.
func auditOutcome(err error) string {
	var jr *jobs.RuleError
	var cr *clusters.RuleError
	var ve *clusters.ValidationError
	var fe *jobs.FieldError
	var ke *clusters.KubeconfigError
	var rej *fleet.RejectedError
	switch {
	case err == nil:
		return store.AuditOK
	case errors.As(err, &jr):
		return string(jr.Code)
	case errors.As(err, &cr):
		return cr.Code
	case errors.As(err, &ve), errors.As(err, &fe):
		return "invalid_field"
	case errors.As(err, &ke), errors.As(err, &rej):
		return "kubeconfig_rejected"
	case errors.Is(err, clusters.ErrNotFound), errors.Is(err, jobs.ErrNotFound):
		return "not_found"
	case errors.Is(err, clusters.ErrOrganizationMismatch):
		return "organization_mismatch"
	case errors.Is(err, jobs.ErrConflict):
		return "job_id_reused"
	}
	return "failed"
}
