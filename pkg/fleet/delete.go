package fleet

import (
	"context"

	"github.com/vworkspace/pushd/pkg/clusters"
)

// Delete forgets org's cluster id. Its unfinished jobs are cancelled first,
// while a running one still has its credential to stop with (a job for a
// cluster pushd no longer knows cannot run); then the record and its
// credential are deleted and the monitor and the watcher forget it. Once
// the record was found it is returned, also with the error of a later
// step, so the caller can name the generation it deleted or tried to.
func (s *Service) Delete(ctx context.Context, org, id string) (*clusters.Record, error) {
	rec, err := s.reg.Get(ctx, org, id)
	if err != nil {
		return nil, err
	}
	if err := s.jobs.CancelCluster(ctx, org, id); err != nil {
		return rec, err
	}
	if err := s.reg.Delete(ctx, org, id); err != nil {
		return rec, err
	}
	s.health.Forget(id)
	if s.opts.Observations != nil {
		s.opts.Observations.Forget(id)
	}
	return rec, nil
}
