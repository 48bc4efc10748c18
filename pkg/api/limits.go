package api

import (
	"encoding/json"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/labstack/echo/v4"
)

// bound answers 503 when MaxConcurrentRequests are already being handled,
// so a flood queues nowhere in pushd. Probes and metrics are not counted:
// they must answer while pushd is busy.
func (s *Server) bound(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		switch c.Request().URL.Path {
		case "/healthz", "/readyz", "/metrics":
			return next(c)
		}
		select {
		case s.slots <- struct{}{}:
			defer func() { <-s.slots }()
			return next(c)
		default:
			c.Response().Header().Set("Retry-After", "1")
			return &Error{Status: http.StatusServiceUnavailable, Code: "overloaded", Message: "pushd is handling too many requests; retry shortly"}
		}
	}
}

// trustOnly trusts exactly the given proxies, not echo's default private ranges.
func trustOnly(proxies []netip.Prefix) []echo.TrustOption {
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range proxies {
		_, n, _ := net.ParseCIDR(p.Masked().String())
		opts = append(opts, echo.TrustIPRange(n))
	}
	return opts
}

// Secure says whether the client reached pushd over TLS: directly, or
// through a trusted proxy that says so in X-Forwarded-Proto.
func (s *Server) Secure(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	if !strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		return false
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	for _, p := range s.opts.TrustedProxies {
		if p.Contains(addr.Unmap()) {
			return true
		}
	}
	return false
}

// setLocation sets the Location of the resource a write created (201) or
// queued (202): the cluster of PUT /clusters/{id}, the job of POST /jobs.
func setLocation(c echo.Context, status int, id string) {
	if status != http.StatusCreated && status != http.StatusAccepted {
		return
	}
	switch c.Path() {
	case "/api/v1/clusters/:id":
		c.Response().Header().Set(echo.HeaderLocation, "/api/v1/clusters/"+id)
	case "/api/v1/jobs":
		c.Response().Header().Set(echo.HeaderLocation, "/api/v1/jobs/"+id)
	}
}

// replayLocation sets the Location of a replayed answer from the id in its
// remembered body.
func replayLocation(c echo.Context, status int, body []byte) {
	var v struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(body, &v) == nil && v.ID != "" {
		setLocation(c, status, v.ID)
	}
}
