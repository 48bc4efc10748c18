package api

import (
	"encoding/base64"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"
)

// pageOf cuts one page out of a sorted list for the listings that are built
// in memory (clusters, applications): the cursor is the key of the last item
// of the previous page, so a page stays right when items are added or
// removed between requests.
func pageOf[T any](c echo.Context, items []T, key func(T) string) ([]T, *string, error) {
	limit, err := pageLimit(c)
	if err != nil {
		return nil, nil, err
	}
	start := 0
	if cur := c.QueryParam("cursor"); cur != "" {
		after, err := base64.RawURLEncoding.DecodeString(cur)
		if err != nil {
			return nil, nil, errForeignCursor
		}
		for start < len(items) && key(items[start]) <= string(after) {
			start++
		}
	}
	end := min(start+limit, len(items))
	var next *string
	if end < len(items) {
		n := base64.RawURLEncoding.EncodeToString([]byte(key(items[end-1])))
		next = &n
	}
	return items[start:end], next, nil
}

// seqPage reads limit (1–500, default 100) and cursor for the listings
// read from the database in order of a sequence number (audit entries,
// parked callbacks): the cursor is the number of the last item of the
// previous page.
func seqPage(c echo.Context) (after int64, limit int, err error) {
	if limit, err = pageLimit(c); err != nil {
		return 0, 0, err
	}
	if cur := c.QueryParam("cursor"); cur != "" {
		n, err := strconv.ParseInt(cur, 10, 64)
		if err != nil || n < 0 {
			return 0, 0, errForeignCursor
		}
		after = n
	}
	return after, limit, nil
}

// pageLimit reads the limit of a listing: 1–500, default 100.
func pageLimit(c echo.Context) (int, error) {
	l := c.QueryParam("limit")
	if l == "" {
		return 100, nil
	}
	n, err := strconv.Atoi(l)
	if err != nil || n < 1 || n > 500 {
		return 0, invalidField("limit", "must be a number between 1 and 500")
	}
	return n, nil
}

var errForeignCursor = invalidField("cursor", "not a cursor this listing gave out")

// seqCut cuts a page read with limit+1 items to limit and returns the
// cursor of the next page: nil when there was no extra item.
func seqCut[T any](items []T, limit int, seq func(T) int64) ([]T, *string) {
	if len(items) <= limit {
		return items, nil
	}
	items = items[:limit]
	n := strconv.FormatInt(seq(items[limit-1]), 10)
	return items, &n
}

func invalidField(field, msg string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "invalid_field", Message: field + ": " + msg, Details: []any{map[string]string{"field": field}}}
}
