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
	limit := 100
	if l := c.QueryParam("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 500 {
			return nil, nil, &Error{Status: http.StatusBadRequest, Code: "invalid_field", Message: "limit: must be a number between 1 and 500", Details: []any{map[string]string{"field": "limit"}}}
		}
		limit = n
	}
	start := 0
	if cur := c.QueryParam("cursor"); cur != "" {
		after, err := base64.RawURLEncoding.DecodeString(cur)
		if err != nil {
			return nil, nil, &Error{Status: http.StatusBadRequest, Code: "invalid_field", Message: "cursor: not a cursor this listing gave out", Details: []any{map[string]string{"field": "cursor"}}}
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
