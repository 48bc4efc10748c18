package fleet

import (
	"context"

	"github.com/vworkspace/pushd/pkg/clusters"
)

// Check probes org's cluster id now (unless its breaker is open) and
// returns its record and what the probe found, as stored.
func (s *Service) Check(ctx context.Context, org, id string) (*clusters.Record, clusters.Status, error) {
	rec, err := s.reg.Get(ctx, org, id)
	if err != nil {
		return nil, clusters.Status{}, err
	}
	st, err := s.health.Check(ctx, rec)
	if err != nil {
		return rec, clusters.Status{}, err
	}
	return rec, st, nil
}
