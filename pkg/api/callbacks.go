package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/vworkspace/pushd/pkg/outbox"
	"github.com/vworkspace/pushd/pkg/store"
)

// Callbacks is what the API needs of the outbox: the events it parked after
// their attempt budget was spent, and a way to send one again.
type Callbacks interface {
	Parked(ctx context.Context, org string, after int64, limit int) ([]store.ParkedEvent, error)
	Resend(ctx context.Context, org, id string) (*store.Event, error)
}

var _ Callbacks = (*outbox.Deliverer)(nil)

// parkedCallback is a parked event as the API shows it: what it is, and why
// it was given up on. Its data is not shown (it is what Odoo refused).
type parkedCallback struct {
	ID           string    `json:"id"`
	Type         string    `json:"type"`
	Organization string    `json:"organization"`
	Cluster      string    `json:"cluster"`
	CreatedAt    time.Time `json:"created_at"`
	Attempts     int       `json:"attempts"`
	LastError    string    `json:"last_error"`
	ParkedAt     time.Time `json:"parked_at"`
}

func (s *Server) listParkedCallbacks(c echo.Context) error {
	after, limit, err := seqPage(c)
	if err != nil {
		return err
	}
	events, err := s.Callbacks.Parked(c.Request().Context(), organization(c), after, limit+1)
	if err != nil {
		return err
	}
	events, next := seqCut(events, limit, func(e store.ParkedEvent) int64 { return e.Seq })
	items := make([]parkedCallback, 0, len(events))
	for _, e := range events {
		items = append(items, parkedCallback{
			ID: e.ID, Type: e.Type, Organization: e.Organization, Cluster: e.Cluster, CreatedAt: e.CreatedAt.UTC(),
			Attempts: e.Attempts, LastError: e.LastError, ParkedAt: e.ParkedAt.UTC(),
		})
	}
	return c.JSON(http.StatusOK, map[string]any{"items": items, "next_cursor": next})
}

func (s *Server) resendCallback(c echo.Context) error {
	e, err := s.Callbacks.Resend(c.Request().Context(), organization(c), c.Param("id"))
	if errors.Is(err, store.ErrEventNotParked) {
		return &Error{Status: http.StatusNotFound, Code: "not_found", Message: "no such parked callback"}
	}
	if err != nil {
		return err
	}
	AuditNote(c).Cluster = e.Cluster
	return c.JSON(http.StatusAccepted, map[string]any{
		"id": e.ID, "type": e.Type, "organization": e.Organization, "cluster": e.Cluster,
		"created_at": e.CreatedAt.UTC(), "status": "pending",
	})
}
