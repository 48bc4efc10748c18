package ui

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"
)

// uiCallbacksPage is how many parked callbacks one page shows.
const uiCallbacksPage = 50

type uiCallbacks struct {
	// Off: pushd runs without a callback URL, so nothing is ever parked.
	Off   bool
	Items []uiParked
	More  string
}

type uiParked struct {
	ID, Type, Cluster, Created, Parked, LastError string
	Attempts                                      int
}

// callbacks lists the organization's parked callbacks, each with a re-send button.
func (u *ui) callbacks(c echo.Context) error {
	page := uiCallbacks{Off: u.Callbacks == nil}
	if page.Off {
		return u.render(c, http.StatusOK, "callbacks", page)
	}
	after, _ := strconv.ParseInt(c.QueryParam("after"), 10, 64)
	events, err := u.Callbacks.Parked(c.Request().Context(), organization(c), max(after, 0), uiCallbacksPage+1)
	if err != nil {
		return err
	}
	if len(events) > uiCallbacksPage {
		events = events[:uiCallbacksPage]
		page.More = "/ui/callbacks?after=" + strconv.FormatInt(events[len(events)-1].Seq, 10)
	}
	for _, e := range events {
		page.Items = append(page.Items, uiParked{
			ID: e.ID, Type: e.Type, Cluster: e.Cluster, Created: uiTime(&e.CreatedAt), Parked: uiTime(&e.ParkedAt),
			LastError: e.LastError, Attempts: e.Attempts,
		})
	}
	return u.render(c, http.StatusOK, "callbacks", page)
}
