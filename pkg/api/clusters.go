package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/fleet"
	"github.com/vworkspace/pushd/pkg/health"
)

// ClusterRegistry is what the API needs of the cluster records.
type ClusterRegistry interface {
	Put(ctx context.Context, org string, rec clusters.Record) (*clusters.Record, bool, error)
	Get(ctx context.Context, org, id string) (*clusters.Record, error)
	List(ctx context.Context, org string) ([]*clusters.Record, error)
}

// ClusterHealth is what the API needs of the health monitor.
type ClusterHealth interface {
	Observed(ctx context.Context, id string) (health.Status, error)
	ObservedAll(ctx context.Context) (map[string]health.Status, error)
}

// Fleet is what the API needs of the cluster use cases it shares with the CLI.
type Fleet interface {
	ReplaceCredential(ctx context.Context, org, id string, kubeconfig []byte) (*clusters.Record, health.Status, error)
	Delete(ctx context.Context, org, id string) (*clusters.Record, error)
}

var (
	_ ClusterRegistry = (*clusters.Registry)(nil)
	_ ClusterHealth   = (*health.Monitor)(nil)
	_ Fleet           = (*fleet.Service)(nil)
)

// clusterView is a record with what pushd observes of the cluster. In
// answers "connectivity" is the observed state object, as the contract says;
// the record's mode moves to "connectivity_mode".
type clusterView struct {
	*clusters.Record
	health.Status
	Connectivity     health.Connectivity `json:"connectivity"`
	ConnectivityMode string              `json:"connectivity_mode"`
	Applications     *appCounts          `json:"applications,omitempty"`
	// OverPrivileged: the last probe found excess rights; jobs are
	// refused unless the record accepts them.
	OverPrivileged bool `json:"over_privileged"`
}

func (s *Server) newView(rec *clusters.Record, st health.Status) clusterView {
	return clusterView{Record: rec, Status: st, Connectivity: st.Connectivity, ConnectivityMode: rec.Connectivity,
		Applications: s.counts(rec.ID), OverPrivileged: st.OverPrivileged()}
}

func (s *Server) view(ctx context.Context, rec *clusters.Record) (clusterView, error) {
	st, err := s.Health.Observed(ctx, rec.ID)
	return s.newView(rec, st), err
}

func (s *Server) listClusters(c echo.Context) error {
	ctx := c.Request().Context()
	recs, err := s.Clusters.List(ctx, organization(c))
	if err != nil {
		return err
	}
	observed, err := s.Health.ObservedAll(ctx)
	if err != nil {
		return err
	}
	items := make([]clusterView, 0, len(recs))
	for _, rec := range recs {
		items = append(items, s.newView(rec, observed[rec.ID]))
	}
	page, next, err := pageOf(c, items, func(v clusterView) string { return v.ID })
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"items": page, "next_cursor": next})
}

func (s *Server) getCluster(c echo.Context) error {
	rec, err := s.Clusters.Get(c.Request().Context(), organization(c), c.Param("id"))
	if err != nil {
		return err
	}
	v, err := s.view(c.Request().Context(), rec)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

func (s *Server) putCluster(c echo.Context) error {
	var rec clusters.Record
	if err := decodeJSON(c, &rec); err != nil {
		return err
	}
	if rec.ID != "" && rec.ID != c.Param("id") {
		return &Error{Status: http.StatusBadRequest, Code: "invalid_field", Message: "id in the body differs from the path"}
	}
	ctx, org := c.Request().Context(), organization(c)
	rec.ID = c.Param("id")
	// A malformed record is a 400 before the id's space is looked at.
	if err := rec.Normalize(); err != nil {
		return err
	}
	_, err := s.Clusters.Get(ctx, org, rec.ID)
	if err != nil && !errors.Is(err, clusters.ErrNotFound) {
		return err
	}
	if e := s.Auth.ids.admits(org, rec.ID, err == nil); e != nil {
		return e
	}
	out, created, err := s.Clusters.Put(ctx, org, rec)
	if err != nil {
		return err
	}
	v, err := s.view(ctx, out)
	if err != nil {
		return err
	}
	if created {
		setLocation(c, http.StatusCreated, out.ID)
		return c.JSON(http.StatusCreated, v)
	}
	return c.JSON(http.StatusOK, v)
}

func (s *Server) deleteCluster(c echo.Context) error {
	rec, err := s.Fleet.Delete(c.Request().Context(), organization(c), c.Param("id"))
	if rec != nil {
		AuditNote(c).ClusterUID = rec.UID // the generation deleted
	}
	if err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// putKubeconfig stores a cluster's credential and answers with a fresh probe.
// A credential that fails its probe does not replace one that works: the
// working one is put back and the answer is 422 (fleet.ReplaceCredential).
func (s *Server) putKubeconfig(c echo.Context) error {
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return err
	}
	rec, st, err := s.Fleet.ReplaceCredential(c.Request().Context(), organization(c), c.Param("id"), body)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.newView(rec, st))
}

// decodeJSON reads a JSON body strictly: unknown fields are refused so a
// typo in a scope field cannot silently widen or narrow a record.
func decodeJSON(c echo.Context, v any) error {
	dec := json.NewDecoder(c.Request().Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &Error{Status: http.StatusBadRequest, Code: "malformed_json", Message: "request body is not valid JSON for this resource: " + err.Error()}
	}
	if dec.More() {
		return &Error{Status: http.StatusBadRequest, Code: "malformed_json", Message: "request body has data after the JSON value"}
	}
	return nil
}

// clusterError maps the clusters package's errors to answers.
func clusterError(err error) *Error {
	var ve *clusters.ValidationError
	var re *clusters.RuleError
	var ke *clusters.KubeconfigError
	var rej *fleet.RejectedError
	switch {
	case errors.Is(err, clusters.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Code: "not_found", Message: "no such cluster"}
	case errors.Is(err, clusters.ErrOrganizationMismatch):
		return &Error{Status: http.StatusForbidden, Code: "organization_mismatch", Message: err.Error()}
	case errors.As(err, &ve):
		return &Error{Status: http.StatusBadRequest, Code: "invalid_field", Message: ve.Error(), Details: []any{map[string]string{"field": ve.Field}}}
	case errors.As(err, &re):
		e := &Error{Status: http.StatusUnprocessableEntity, Code: re.Code, Message: re.Reason}
		if re.Field != "" {
			e.Details = []any{map[string]string{"field": re.Field}}
		}
		return e
	case errors.As(err, &ke):
		return &Error{Status: http.StatusUnprocessableEntity, Code: "kubeconfig_rejected", Message: ke.Error()}
	case errors.As(err, &rej):
		return &Error{Status: http.StatusUnprocessableEntity, Code: "kubeconfig_rejected", Message: rej.Error(),
			Details: []any{map[string]string{"reason": "probe_" + string(rej.Probe.Connectivity.State)}}}
	}
	return nil
}
