package httpapi

import (
	"net/http"
	"net/netip"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func (s *Server) mountCore() {
	if s.health.log == nil {
		s.health.log = s.log
	}
	s.HandleRoot(Route{
		Method: http.MethodGet, Path: "/healthz", Tags: []string{"ops"},
		Summary:     "Health of every subsystem",
		Description: "200 with status ok when every subsystem is healthy, else 503 with status degraded.",
		Raw:         true, RawContentType: fiber.MIMEApplicationJSON, Response: HealthReport{},
		Handler: func(c *fiber.Ctx) error {
			rep := s.health.Check(c.UserContext())
			status := http.StatusOK
			if rep.Status != "ok" {
				status = http.StatusServiceUnavailable
			}
			c.Set(fiber.HeaderCacheControl, "no-store")
			return c.Status(status).JSON(rep)
		},
	})
	prom := adaptor.HTTPHandler(promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	s.HandleRoot(Route{
		Method: http.MethodGet, Path: "/metrics", Tags: []string{"ops"},
		Summary: "Prometheus metrics (admins, or a scraper on the control network)", Raw: true, RawContentType: "text/plain",
		Handler: func(c *fiber.Ctx) error {
			if !metricsAllowed(c) {
				return Problem(http.StatusForbidden, "forbidden", "metrics are for admins and the control network")
			}
			return prom(c)
		},
	})
	s.Handle(Route{
		Method: http.MethodGet, Path: "/openapi.json", Tags: []string{"ops"},
		Summary: "This OpenAPI document", Raw: true, RawContentType: fiber.MIMEApplicationJSON,
		Handler: func(c *fiber.Ctx) error {
			b, err := s.OpenAPI()
			if err != nil {
				return err
			}
			c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
			return c.Send(b)
		},
	})
}

// metricsAllowed: /metrics is for admins, and for a scraper that connects
// directly (no proxy on the way: no X-Forwarded-For, which Caddy always
// adds) from loopback or a private control network. Everyone else, the
// public through Caddy included, gets 403.
func metricsAllowed(c *fiber.Ctx) bool {
	if u := CurrentUser(c); u != nil && u.IsAdmin() {
		return true
	}
	if len(c.Request().Header.Peek(fiber.HeaderXForwardedFor)) > 0 || len(c.Request().Header.Peek("Forwarded")) > 0 {
		return false
	}
	addr, ok := netip.AddrFromSlice(c.Context().RemoteIP())
	if !ok {
		return false
	}
	addr = addr.Unmap()
	return addr.IsLoopback() || addr.IsPrivate()
}
