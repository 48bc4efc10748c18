package fleet

import (
	"context"

	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/health"
)

// RejectedError is a new kubeconfig that failed its probe while the one it
// was to replace worked: the working one was put back.
type RejectedError struct {
	// Probe is what the probe of the refused credential found.
	Probe health.Status
}

func (e *RejectedError) Error() string {
	return "the new kubeconfig failed its probe (" + string(e.Probe.Connectivity.State) + "); the working one is kept"
}

// ReplaceCredential stores kubeconfig as the credential of org's cluster id
// and probes it at once, its breaker closed first (past failures say nothing
// of a new credential). A credential that fails its probe does not replace
// one that works: if the cluster was ready before, the working credential is
// stored again and probed, and the error is a *RejectedError. Otherwise it
// returns the new credential's probe, ready or not (with no working
// credential there is nothing to go back to). The record is returned once
// found, with an error too.
func (s *Service) ReplaceCredential(ctx context.Context, org, id string, kubeconfig []byte) (*clusters.Record, health.Status, error) {
	rec, err := s.reg.Get(ctx, org, id)
	if err != nil {
		return nil, health.Status{}, err
	}
	var working *clusters.Credential
	if before, err := s.health.Observed(ctx, id); err == nil && before.Connectivity.State == health.StateReady {
		working, _ = s.reg.Credential(id)
	}
	if err := s.reg.SetKubeconfig(ctx, org, id, kubeconfig); err != nil {
		return rec, health.Status{}, err
	}
	s.health.Reset(id)
	st, err := s.health.Check(ctx, rec)
	if err != nil {
		return rec, health.Status{}, err
	}
	if working == nil || st.Connectivity.State == health.StateReady {
		return rec, st, nil
	}
	if err := s.reg.RestoreCredential(id, working); err != nil {
		return rec, health.Status{}, err
	}
	s.health.Reset(id)
	if _, err := s.health.Check(ctx, rec); err != nil {
		return rec, health.Status{}, err
	}
	return rec, health.Status{}, &RejectedError{Probe: st}
}
