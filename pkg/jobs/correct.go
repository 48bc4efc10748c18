package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/vworkspace/pushd/pkg/store"
)

// TriggerDrift marks the jobs pushd queues itself to correct drift.
const TriggerDrift = store.TriggerDrift

// ErrNothingApplied: a correction was asked for an application whose latest
// intent is not an apply (there is none, or Odoo asked to delete it), so
// there is no desired state to put back.
var ErrNothingApplied = errors.New("no apply intent to re-apply")

// Correct queues a re-apply of the application's latest intent: a new job
// with trigger "drift" and the manifests of the newest job of (cluster,
// namespace, application) that passed its preflight, in the record's
// current generation. An application whose latest intent is a delete is
// never re-created. It is queued behind Odoo's jobs of
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
	// Bound to the record's generation: a cluster id forgotten and
	// registered again never gets the old record's manifests.
	last, err := s.store.LatestIntent(ctx, rec.UID, namespace, application)
	if errors.Is(err, store.ErrNotFound) || (err == nil && last.Action != ActionApply) {
		return "", fmt.Errorf("cluster %q: application %s/%s: %w", cluster, namespace, application, ErrNothingApplied)
	}
	if err != nil {
		return "", fmt.Errorf("cluster %q: application %s/%s: %w", cluster, namespace, application, err)
	}
	// The record may have narrowed since the job was accepted: a correction
	// is held to today's scope like a new job.
	_, opAllowed := rec.AllowedOperation(last.Engine, last.Type)
	if !rec.AllowsApplication(application) || !rec.AllowsNamespace(namespace) || !opAllowed {
		return "", refuse(RuleApplicationNotAllowed, "application", "cluster %q no longer allows %s/%s (%s/%s): not re-applied", cluster, namespace, application, last.Engine, last.Type)
	}
	id := "drift-" + uuid.NewString()
	sum := sha256.Sum256([]byte(TriggerDrift + "\x00" + last.Manifests))
	row := &store.Job{
		Organization: last.Organization, ID: id, Cluster: cluster, ClusterUID: rec.UID, Namespace: namespace, Application: application,
		Engine: last.Engine, Type: last.Type, Action: ActionApply, Trigger: TriggerDrift,
		Manifests: last.Manifests, ContentHash: hex.EncodeToString(sum[:]), TimeoutSeconds: last.TimeoutSeconds,
		Status: store.JobQueued, Objects: "[]",
	}
	// Set here, not by the database, so the queued event carries it too.
	row.CreatedAt = s.now().UTC().Truncate(time.Microsecond)
	row.UpdatedAt = row.CreatedAt
	if _, err := s.store.CreateJob(ctx, row, statusEvent(row)); err != nil {
		return "", fmt.Errorf("cluster %q: job %q: %w", cluster, id, err)
	}
	s.notify()
	return id, nil
}
