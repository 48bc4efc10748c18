package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/vworkspace/pushd/pkg/store"
)

// The fleet view of one request (jobs.RequestView) and its cancellation.

func (s *Server) getRequest(c echo.Context) error {
	v, err := s.Jobs.Request(c.Request().Context(), organization(c), c.Param("request_id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

// cancelRequest cancels every unfinished job of a request in one call: 200
// when all of the view's jobs are final now, 202 when some were running and
// are stopping.
func (s *Server) cancelRequest(c echo.Context) error {
	v, err := s.Jobs.CancelRequest(c.Request().Context(), organization(c), c.Param("request_id"))
	if err != nil {
		return err
	}
	if v.Counts[store.JobRunning] > 0 {
		return c.JSON(http.StatusAccepted, v)
	}
	return c.JSON(http.StatusOK, v)
}
