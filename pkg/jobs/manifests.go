package jobs

import (
	"context"
	"errors"

	"github.com/vworkspace/pushd/pkg/store"
)

// Manifests returns the objects a job of org was submitted with, as the
// JSON array they are stored as, Secret values included: a reader that
// shows them hides those (the UI's job page does).
func (s *Service) Manifests(ctx context.Context, org, id string) (string, error) {
	row, err := s.store.GetJob(ctx, org, id)
	if errors.Is(err, store.ErrNotFound) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", err
	}
	return row.Manifests, nil
}
