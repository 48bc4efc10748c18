package ui

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"
)

// callbacksPerPage is how many parked callbacks one page shows.
const callbacksPerPage = 50

type callbacksPage struct {
	// Off: pushd runs without a callback URL, so nothing is ever parked.
	Off   bool
	Items []parkedRow
	More  string
}

type parkedRow struct {
	ID, Type, Cluster, Created, Parked, LastError string
	Attempts                                      int
}

// callbacks lists the organization's parked callbacks, each with a re-send button.
func (u *server) callbacks(c echo.Context) error {
	page := callbacksPage{Off: u.Callbacks == nil}
	if page.Off {
		return u.render(c, http.StatusOK, "callbacks", page)
	}
	after, _ := strconv.ParseInt(c.QueryParam("after"), 10, 64)
	events, err := u.Callbacks.Parked(c.Request().Context(), organization(c), max(after, 0), callbacksPerPage+1)
	if err != nil {
		return err
	}
	if len(events) > callbacksPerPage {
		events = events[:callbacksPerPage]
		page.More = "/ui/callbacks?after=" + strconv.FormatInt(events[len(events)-1].Seq, 10)
	}
	for _, e := range events {
		page.Items = append(page.Items, parkedRow{
			ID: e.ID, Type: e.Type, Cluster: e.Cluster, Created: showTime(&e.CreatedAt), Parked: showTime(&e.ParkedAt),
			LastError: e.LastError, Attempts: e.Attempts,
		})
	}
	return u.render(c, http.StatusOK, "callbacks", page)
}
