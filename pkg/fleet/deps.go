package fleet

import (
	"context"
	"time"

	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/health"
	"github.com/vworkspace/pushd/pkg/jobs"
	"github.com/vworkspace/pushd/pkg/observe"
	"github.com/vworkspace/pushd/pkg/store"
)

// Registry is what the use cases need of the cluster records and their
// credentials.
type Registry interface {
	Get(ctx context.Context, org, id string) (*clusters.Record, error)
	Delete(ctx context.Context, org, id string) error
	// SetKubeconfig sanitises and stores a kubeconfig as the credential.
	SetKubeconfig(ctx context.Context, org, id string, kubeconfig []byte) error
	// Credential and RestoreCredential read the stored credential and put
	// one read before back.
	Credential(id string) (*clusters.Credential, error)
	RestoreCredential(id string, c *clusters.Credential) error
}

// Health is what the use cases need of the health monitor.
type Health interface {
	// Check probes now and stores what it found.
	Check(ctx context.Context, rec *clusters.Record) (health.Status, error)
	// Observed is the last stored probe.
	Observed(ctx context.Context, id string) (health.Status, error)
	// Reset closes the cluster's breaker.
	Reset(id string)
	// Forget drops what the monitor remembers of the cluster.
	Forget(id string)
}

// Jobs is what the use cases need of the work queue.
type Jobs interface {
	// CancelCluster cancels every unfinished job of the cluster.
	CancelCluster(ctx context.Context, org, cluster string) error
}

// Observations is what the use cases need of the status and drift watcher.
type Observations interface {
	// Forget drops what the watcher remembers of the cluster.
	Forget(cluster string)
}

// JanitorStore is what the Janitor prunes.
type JanitorStore interface {
	PruneMessages(ctx context.Context, before time.Time) (int64, error)
	ForgetManifests(ctx context.Context, before time.Time) (int64, error)
	PruneUnsentEvents(ctx context.Context, before time.Time) (int64, error)
}

// RetentionStore is what the Retention sweep prunes.
type RetentionStore interface {
	// PruneJobs deletes finished jobs older than before that nothing needs.
	PruneJobs(ctx context.Context, before time.Time) (int64, error)
	// PruneEvents deletes delivered events older than before.
	PruneEvents(ctx context.Context, before time.Time) (int64, error)
}

var (
	_ Registry       = (*clusters.Registry)(nil)
	_ Health         = (*health.Monitor)(nil)
	_ Jobs           = (*jobs.Service)(nil)
	_ Observations   = (*observe.Watcher)(nil)
	_ JanitorStore   = (*store.Store)(nil)
	_ RetentionStore = (*store.Store)(nil)
)
