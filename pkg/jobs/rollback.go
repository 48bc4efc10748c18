package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/store"
)

// Rollbacks. A job with action rollback and rollback_to names an earlier
// job of the same application: it is stored and run as an apply of that
// job's manifests, as pushd retained them (trigger rollback, the source
// job recorded), so objects added since are pruned and it becomes the
// application's latest intent, its drift reference. It is held to the
// record's rules as it is now, like any job.

// ActionRollback asks to put an earlier job's manifests back (Spec.RollbackTo).
const ActionRollback = "rollback"

// TriggerRollback marks the jobs a rollback queued.
const TriggerRollback = "rollback"

// Rules of a rollback, checked at intake: what it names must be an
// earlier intent of the same application whose manifests pushd still has.
const (
	// RuleManifestsExpired: the source job is not retained (the job
	// retention pruned it, or it never was), or its manifests were
	// emptied (its record was deleted).
	RuleManifestsExpired ErrorCode = "manifests_expired"
	// RuleRollbackSourceMismatch: the source job belongs to another
	// cluster, record generation, namespace or application, or was never
	// an intent of it (a delete, an operation, a job refused before it
	// wrote).
	RuleRollbackSourceMismatch ErrorCode = "rollback_source_mismatch"
)

// IntakeRules lists the rules checked at intake only, after the rule book
// (Rules): a refusal by them is a 422 and never fails a queued job, which
// is an apply held to the rule book again when claimed.
func IntakeRules() []Rule { return rollbackRules }

var rollbackRules = []Rule{
	{RuleManifestsExpired, "a rollback's source job and its manifests are still retained"},
	{RuleRollbackSourceMismatch, "a rollback's source job is an earlier intent of the same cluster record, namespace and application"},
}

// resolveRollback makes spec, a rollback of rec's application, the apply
// it runs as: the source job's manifests. It returns the source job's id.
func (s *Service) resolveRollback(ctx context.Context, org string, rec *clusters.Record, spec *Spec) (string, error) {
	src, err := s.store.GetJob(ctx, org, spec.RollbackTo)
	if errors.Is(err, store.ErrNotFound) {
		return "", withValue(refuse(RuleManifestsExpired, "rollback_to", "job %q is not retained (the job retention prunes finished jobs) or never was: there is nothing to roll back to", spec.RollbackTo), spec.RollbackTo)
	}
	if err != nil {
		return "", err
	}
	switch {
	case src.Cluster != spec.Cluster || src.ClusterUID != rec.UID || src.Namespace != spec.Namespace || src.Application != spec.Application:
		return "", withValue(refuse(RuleRollbackSourceMismatch, "rollback_to", "job %q is of application %s/%s on cluster %q (record generation %s), not of %s/%s on this cluster's record",
			src.ID, src.Namespace, src.Application, src.Cluster, src.ClusterUID, spec.Namespace, spec.Application), spec.RollbackTo)
	case src.Action != ActionApply || !src.Intent:
		return "", withValue(refuse(RuleRollbackSourceMismatch, "rollback_to", "job %q was never the application's intent (a %s job that %s): only an apply that got to write can be put back",
			src.ID, src.Action, map[bool]string{true: "wrote", false: "wrote nothing"}[src.Intent]), spec.RollbackTo)
	case src.Manifests == "":
		return "", withValue(refuse(RuleManifestsExpired, "rollback_to", "job %q's manifests are no longer retained (its record was deleted)", src.ID), spec.RollbackTo)
	}
	if err := json.Unmarshal([]byte(src.Manifests), &spec.Manifests); err != nil {
		return "", fmt.Errorf("job %q: stored manifests: %w", src.ID, err)
	}
	spec.Action = ActionApply
	return src.ID, nil
}

// manifestDigest identifies a job's manifests as stored: the same digest,
// the same objects.
func manifestDigest(manifests []byte) string {
	sum := sha256.Sum256(manifests)
	return hex.EncodeToString(sum[:])
}
