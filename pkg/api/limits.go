package api

import (
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

// secure says whether the client reached pushd over TLS: directly, or
// through a trusted proxy that says so in X-Forwarded-Proto.
func (s *Server) secure(r *http.Request) bool {
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
