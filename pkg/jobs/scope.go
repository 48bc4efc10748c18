package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/vworkspace/pushd/pkg/apply"
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/store"
)

// Rule codes of the record as a whole, beside the scope rules of apply.Rule.
const (
	// RuleOverPrivileged: the cluster's credential holds rights it should
	// not (the last probe's excess rights) and its record does not accept
	// that (accept_excess_rights).
	RuleOverPrivileged apply.Rule = "over_privileged"
	// RuleRecordChanged: the record the job was accepted for was deleted,
	// or the id now names another record (a new generation, possibly of
	// another organization). Checked when the job is claimed.
	RuleRecordChanged apply.Rule = "record_changed"
)

// scope holds a job to its cluster's record. The same checks run when a job
// is submitted (a refusal is a 422 and nothing is stored) and again when a
// worker claims it (a refusal fails the job before anything is written): a
// record may be narrowed, re-created or moved between the two.
type scope struct {
	clusters Clusters
	monitor  Monitor
	allowed  []schema.GroupKind
}

// check applies every rule of rec to spec and returns its objects as pushd
// will write them.
func (s *scope) check(ctx context.Context, rec *clusters.Record, spec *Spec) ([]*unstructured.Unstructured, error) {
	objs, err := s.checkScope(rec, spec)
	if err != nil {
		return nil, err
	}
	if err := s.checkPrivileges(ctx, rec); err != nil {
		return nil, err
	}
	if err := s.checkPodSecurity(ctx, rec, spec.Namespace); err != nil {
		return nil, err
	}
	return objs, nil
}

// checkPrivileges refuses jobs for a cluster whose credential the last
// probe found over-privileged, unless the record accepts it: pushd's
// least-privilege promise is only as good as the credential it writes with.
func (s *scope) checkPrivileges(ctx context.Context, rec *clusters.Record) error {
	if rec.AcceptExcessRights {
		return nil
	}
	st, err := s.monitor.Observed(ctx, rec.ID)
	if err != nil {
		return &unreadError{fmt.Errorf("cluster %q: observed status: %w", rec.ID, err)}
	}
	if st.OverPrivileged() {
		return refuse(RuleOverPrivileged, "cluster", "cluster %q: its credential holds rights it should not (see the cluster's excess_rights); replace it with a least-privilege one, or set accept_excess_rights on the record", rec.ID)
	}
	return nil
}

// unreadError: a rule could not be checked because the store could not be
// read; it says nothing of the job, which may be checked again.
type unreadError struct{ err error }

func (e *unreadError) Error() string { return e.err.Error() }
func (e *unreadError) Unwrap() error { return e.err }

// recheck holds a claimed job to its cluster's record as it is now: the
// same generation and organization, and every rule a submission passes.
func (s *scope) recheck(ctx context.Context, job *store.Job) error {
	rec, err := s.clusters.Get(ctx, job.Organization, job.Cluster)
	if errors.Is(err, clusters.ErrNotFound) || (err == nil && rec.UID != job.ClusterUID) {
		return refuse(RuleRecordChanged, "cluster", "cluster %q: the record the job was accepted for no longer exists; nothing was written", job.Cluster)
	}
	if err != nil {
		return &unreadError{err}
	}
	spec := Spec{ID: job.ID, Cluster: job.Cluster, Operation: Operation{Engine: job.Engine, Type: job.Type},
		Application: job.Application, Namespace: job.Namespace, Action: job.Action}
	if job.Action == ActionApply {
		if err := json.Unmarshal([]byte(job.Manifests), &spec.Manifests); err != nil {
			return fmt.Errorf("job %q: stored manifests: %w", job.ID, err)
		}
	}
	_, err = s.check(ctx, rec, &spec)
	return err
}
