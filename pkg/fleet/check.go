package fleet

import (
	"context"

	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/health"
)

// Check probes org's cluster id now (unless its breaker is open) and
// returns its record and what the probe found, as stored.
func (s *Service) Check(ctx context.Context, org, id string) (*clusters.Record, health.Status, error) {
	rec, err := s.reg.Get(ctx, org, id)
	if err != nil {
		return nil, health.Status{}, err
	}
	st, err := s.health.Check(ctx, rec)
	if err != nil {
		return rec, health.Status{}, err
	}
	return rec, st, nil
}
