package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/jobs"
	"github.com/vworkspace/pushd/pkg/observe"
)

// Inventory is what the API needs of the application watcher (*observe.Watcher).
type Inventory interface {
	Applications(ctx context.Context, cluster string) ([]observe.Application, error)
	ApplicationList(ctx context.Context, cluster string) (*observe.ApplicationList, error)
	Application(ctx context.Context, cluster, namespace, application string) (*observe.ApplicationDetail, error)
	RequestDriftCheck(ctx context.Context, cluster string) (time.Time, error)
	Counts(cluster string) (total, drifted int)
}

// appCounts are a cluster's applications and how many drifted, from the
// watcher's last results (no request to the cluster).
type appCounts struct {
	Total   int `json:"total"`
	Drifted int `json:"drifted"`
}

func (s *Server) counts(cluster string) *appCounts {
	if s.Inventory == nil {
		return nil
	}
	total, drifted := s.Inventory.Counts(cluster)
	return &appCounts{Total: total, Drifted: drifted}
}

var _ Inventory = (*observe.Watcher)(nil)

// ownCluster answers 404 for a cluster of another organization before any
// inventory is read.
func (s *Server) ownCluster(c echo.Context) (string, error) {
	id := c.Param("id")
	if _, err := s.Clusters.Get(c.Request().Context(), organization(c), id); err != nil {
		return "", err
	}
	return id, nil
}

func (s *Server) listApplications(c echo.Context) error {
	id, err := s.ownCluster(c)
	if err != nil {
		return err
	}
	list, err := s.Inventory.ApplicationList(c.Request().Context(), id)
	if err != nil {
		return err
	}
	apps := list.Items
	if apps == nil {
		apps = []observe.Application{}
	}
	// Sorted by namespace, then application; "/" sorts before any name character.
	page, next, err := pageOf(c, apps, func(a observe.Application) string { return a.Namespace + "/" + a.Application })
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"items": page, "next_cursor": next, "unreadable_namespaces": list.UnreadableNamespaces})
}

func (s *Server) getApplication(c echo.Context) error {
	id, err := s.ownCluster(c)
	if err != nil {
		return err
	}
	app, err := s.Inventory.Application(c.Request().Context(), id, c.Param("namespace"), c.Param("application"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, app)
}

// applicationHistory is the application's jobs, newest first, a page at
// a time (?cursor, ?limit): what a rollback may name.
func (s *Server) applicationHistory(c echo.Context) error {
	id, err := s.ownCluster(c)
	if err != nil {
		return err
	}
	limit, err := limitParam(c)
	if err != nil {
		return err
	}
	h, err := s.Jobs.History(c.Request().Context(), organization(c), id, c.Param("namespace"), c.Param("application"), c.QueryParam("cursor"), limit)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, h)
}

func (s *Server) requestDriftCheck(c echo.Context) error {
	id, err := s.ownCluster(c)
	if err != nil {
		return err
	}
	at, err := s.Inventory.RequestDriftCheck(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, map[string]any{"cluster": id, "requested_at": at.UTC()})
}

// inventoryError maps the observe package's errors to answers.
func inventoryError(err error) *Error {
	switch {
	case errors.Is(err, observe.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Code: "not_found", Message: "no such application on this cluster"}
	case errors.Is(err, clusters.ErrNoCredentials): // the rule a job breaks then
		return &Error{Status: http.StatusUnprocessableEntity, Code: string(jobs.RuleNoCredentials), Message: "the cluster has no credential yet"}
	case errors.Is(err, observe.ErrNotRunning):
		return &Error{Status: http.StatusServiceUnavailable, Code: "not_ready", Message: "drift checks are not running yet"}
	}
	return nil
}
