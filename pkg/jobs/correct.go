package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/vworkspace/pushd/pkg/apply"
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/store"
)

// TriggerDrift marks the jobs pushd queues itself to correct drift.
const TriggerDrift = "drift"

// ErrNothingApplied: a correction was asked for an application without a
// succeeded apply job, so there is no last applied state to put back.
var ErrNothingApplied = errors.New("no succeeded apply job to re-apply")

// Correct queues a re-apply of the application's last applied state: a new
// job with trigger "drift" and the manifests of the last succeeded apply job
// of (cluster, namespace, application). It is queued behind Odoo's jobs of
// the same application like any other, and announced with a
// job.status_changed event in the same transaction. It answers the new
// job's id ("drift-…").
//
// The cluster's record is checked again, as it is today; the runner checks
// the namespace label again at run time, as for every job.
func (s *Service) Correct(ctx context.Context, cluster, namespace, application string) (string, error) {
	rec, err := s.clusters.Get(ctx, "", cluster)
	if err != nil {
		return "", fmt.Errorf("cluster %q: %w", cluster, err)
	}
	last, err := s.store.LastSucceededApply(ctx, cluster, namespace, application)
	if errors.Is(err, store.ErrNotFound) || (err == nil && last.Organization != rec.Organization) {
		// A cluster id forgotten and registered again by another
		// organization never gets the old organization's manifests.
		return "", fmt.Errorf("cluster %q: application %s/%s: %w", cluster, namespace, application, ErrNothingApplied)
	}
	if err != nil {
		return "", fmt.Errorf("cluster %q: application %s/%s: %w", cluster, namespace, application, err)
	}
	// The record may have narrowed since the job was accepted: a correction
	// is held to today's scope like a new job.
	if !rec.AllowsApplication(application) || !rec.AllowsNamespace(namespace) ||
		!rec.AllowsOperation(clusters.Operation{Engine: last.Engine, Type: last.Type}) {
		return "", refuse(apply.RuleApplicationNotAllowed, "application", "cluster %q no longer allows %s/%s (%s/%s): not re-applied", cluster, namespace, application, last.Engine, last.Type)
	}
	id := "drift-" + uuid.NewString()
	sum := sha256.Sum256([]byte(TriggerDrift + "\x00" + last.Manifests))
	row := &store.Job{
		Organization: last.Organization, ID: id, Cluster: cluster, Namespace: namespace, Application: application,
		Engine: last.Engine, Type: last.Type, Action: ActionApply, Trigger: TriggerDrift,
		Manifests: last.Manifests, ContentHash: hex.EncodeToString(sum[:]), TimeoutSeconds: last.TimeoutSeconds,
		Status: store.JobQueued, Objects: "[]",
	}
	if _, err := s.store.CreateJob(ctx, row, statusEvent(row)); err != nil {
		return "", fmt.Errorf("cluster %q: job %q: %w", cluster, id, err)
	}
	s.notify()
	return id, nil
}
