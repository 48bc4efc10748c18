package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/health"
	"github.com/vworkspace/pushd/pkg/store"
)

// Clusters is what intake needs of the cluster registry.
type Clusters interface {
	Get(ctx context.Context, org, id string) (*clusters.Record, error)
	Clients(id string) (*clusters.Clients, error)
}

// Monitor is what jobs need of the cluster monitor: whether a cluster may
// be called now (its breaker is not open), and what its last probe found
// of its credential's rights.
type Monitor interface {
	Allow(cluster string) bool
	Observed(ctx context.Context, id string) (health.Status, error)
}

// Service takes jobs in (checking and queueing them) and answers for them.
type Service struct {
	scope
	store    *store.Store
	notify   func()
	now      func() time.Time
	maxQueue int
	trigger  string
}

// ServiceOptions are Service's optional knobs.
type ServiceOptions struct {
	// AllowedKinds a job may write; DefaultAllowedKinds when nil.
	AllowedKinds []schema.GroupKind
	// Notify is called after a job was queued or cancelled (wakes the
	// runner and the outbox).
	Notify func()
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// MaxQueuedPerCluster bounds a cluster's queued jobs; beyond it Submit
	// answers ErrBackpressure. Default 1000.
	MaxQueuedPerCluster int
	// Trigger is recorded on every job Submit queues: who asked for it.
	// Default TriggerOdoo; the CLI sets its own.
	Trigger string
}

// TriggerOdoo marks the jobs Odoo submitted through the API.
const TriggerOdoo = "odoo"

// NewService builds an intake.
func NewService(st *store.Store, cs Clusters, mon Monitor, opts ServiceOptions) *Service {
	if opts.AllowedKinds == nil {
		opts.AllowedKinds = DefaultAllowedKinds()
	}
	if opts.Notify == nil {
		opts.Notify = func() {}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Trigger == "" {
		opts.Trigger = TriggerOdoo
	}
	if opts.MaxQueuedPerCluster <= 0 {
		opts.MaxQueuedPerCluster = 1000
	}
	return &Service{scope: scope{clusters: cs, monitor: mon, allowed: opts.AllowedKinds}, store: st, notify: opts.Notify, now: opts.Now, maxQueue: opts.MaxQueuedPerCluster, trigger: opts.Trigger}
}

var idRE = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// MaxTimeoutSeconds bounds a job's timeout_seconds.
const MaxTimeoutSeconds = 3600

// Submit checks spec against its cluster's record and queues it for org. An
// id submitted before answers the existing job (created false) when the
// content is the same, ErrConflict when not. Nothing is stored for a refused job.
func (s *Service) Submit(ctx context.Context, org string, spec Spec) (_ *Job, created bool, err error) {
	if err := validate(&spec); err != nil {
		return nil, false, err
	}
	hash := contentHash(spec)
	if existing, err := s.store.GetJob(ctx, org, spec.ID); err == nil {
		if existing.ContentHash != hash {
			return nil, false, fmt.Errorf("job %q: %w", spec.ID, ErrConflict)
		}
		return FromRow(existing), false, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, false, err
	}
	rec, err := s.clusters.Get(ctx, org, spec.Cluster)
	if err != nil {
		return nil, false, err
	}
	trigger, source := s.trigger, ""
	if spec.Action == ActionRollback {
		if source, err = s.resolveRollback(ctx, org, rec, &spec); err != nil {
			return nil, false, err
		}
		trigger = TriggerRollback
	}
	objs, err := s.check(ctx, rec, &spec)
	if err != nil {
		return nil, false, err
	}
	if spec.Action == ActionOperate && spec.TimeoutSeconds == 0 {
		entry, _ := rec.AllowedOperation(spec.Operation.Engine, spec.Operation.Type)
		spec.TimeoutSeconds = int(entry.MaxDuration().Seconds()) // its type's, checked by checkOperateTimeout
	}
	if n, err := s.store.CountQueued(ctx, spec.Cluster); err != nil {
		return nil, false, err
	} else if n >= int64(s.maxQueue) {
		return nil, false, fmt.Errorf("cluster %q: %d jobs queued: %w", spec.Cluster, n, ErrBackpressure)
	}
	manifests, err := json.Marshal(objs)
	if err != nil {
		return nil, false, err
	}
	row := &store.Job{
		Organization: org, ID: spec.ID, Cluster: spec.Cluster, ClusterUID: rec.UID, Namespace: spec.Namespace, Application: spec.Application,
		RequestID: spec.RequestID, Engine: spec.Operation.Engine, Type: spec.Operation.Type, Action: spec.Action,
		Trigger: trigger, SourceJob: source, Manifests: string(manifests), ManifestDigest: manifestDigest(manifests),
		ContentHash: hash, TimeoutSeconds: spec.TimeoutSeconds,
		Status: store.JobQueued, Objects: "[]",
	}
	// Set here, not by the database, so the queued event carries it too.
	row.CreatedAt = s.now().UTC().Truncate(time.Microsecond) // as PostgreSQL keeps it
	row.UpdatedAt = row.CreatedAt
	saved, err := s.store.CreateJob(ctx, row, statusEvent(row))
	if errors.Is(err, store.ErrJobExists) { // a concurrent submission of the same id won
		if saved.ContentHash != hash {
			return nil, false, fmt.Errorf("job %q: %w", spec.ID, ErrConflict)
		}
		return FromRow(saved), false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("job %q: %w", spec.ID, err)
	}
	s.notify()
	return FromRow(saved), true, nil
}

// validate checks the job's shape (HTTP 400) and fills defaults.
func validate(s *Spec) error {
	switch {
	case !idRE.MatchString(s.ID):
		return &FieldError{"id", "must be 1-128 characters of A-Z a-z 0-9 . _ : -"}
	case s.RequestID != "" && !idRE.MatchString(s.RequestID):
		return &FieldError{"request_id", "must be 1-128 characters of A-Z a-z 0-9 . _ : -"}
	case len(validation.IsDNS1123Label(s.Cluster)) > 0:
		return &FieldError{"cluster", "must be a cluster id (a DNS label)"}
	case len(validation.IsDNS1123Label(s.Namespace)) > 0:
		return &FieldError{"namespace", "must be a namespace name"}
	case len(validation.IsDNS1123Label(s.Application)) > 0 || len(s.Application) > 53:
		return &FieldError{"application", "must be a DNS label of at most 53 characters"}
	case s.Operation.Engine == "" || s.Operation.Type == "":
		return &FieldError{"operation", "needs an engine and a type"}
	case s.Action != ActionApply && s.Action != ActionDelete && s.Action != ActionOperate && s.Action != ActionRollback:
		return &FieldError{"action", `must be "apply", "delete", "operate" or "rollback"`}
	case s.Action == ActionRollback && !idRE.MatchString(s.RollbackTo):
		return &FieldError{"rollback_to", "a rollback names the job to roll back to: 1-128 characters of A-Z a-z 0-9 . _ : -"}
	case s.Action != ActionRollback && s.RollbackTo != "":
		return &FieldError{"rollback_to", "only a rollback names a job to roll back to"}
	case s.Action == ActionRollback && len(s.Manifests) > 0:
		return &FieldError{"manifests", "a rollback applies the manifests of the job it names and takes none"}
	case s.Action == ActionApply && len(s.Manifests) == 0:
		return &FieldError{"manifests", "an apply job needs the application's complete desired state"}
	case s.Action == ActionOperate && len(s.Manifests) == 0:
		return &FieldError{"manifests", "an operate job needs the operation's custom resource"}
	case s.Action == ActionDelete && len(s.Manifests) > 0:
		return &FieldError{"manifests", "a delete job removes the whole inventory and takes no manifests"}
	case s.Action == ActionOperate && (s.TimeoutSeconds < 0 || s.TimeoutSeconds > MaxOperateTimeoutSeconds):
		return &FieldError{"timeout_seconds", fmt.Sprintf("must be between 1 and %d for an operate job (and within its type's max_duration_seconds)", MaxOperateTimeoutSeconds)}
	case s.Action != ActionOperate && (s.TimeoutSeconds < 0 || s.TimeoutSeconds > MaxTimeoutSeconds):
		return &FieldError{"timeout_seconds", fmt.Sprintf("must be between 1 and %d", MaxTimeoutSeconds)}
	}
	if s.TimeoutSeconds == 0 && s.Action != ActionOperate { // an operate job's default is its type's (checkOperation)
		s.TimeoutSeconds = 300
	}
	return nil
}

// contentHash identifies what a job asks for, to tell a retry from a reuse of
// its id. Manifests are hashed in canonical form (keys sorted, numbers as
// written), so the same job serialised with another key order is a retry.
func contentHash(s Spec) string {
	s.Manifests = canonical(s.Manifests)
	b, _ := json.Marshal(s)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
